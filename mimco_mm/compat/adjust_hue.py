"""numpy 2: `mmcv.adjust_hue` overflows for a negative hue (`np.uint8(-8)` raises), which crashes
MoCo v3's ColorJitter about 3 draws in 4. The fix keeps mmcv's output for every factor."""
import numpy as np

def adjust_hue(img, hue_factor, backend=None):
    """`mmcv.adjust_hue` with the hue shift wrapped into uint8 explicitly.

    Identical output to mmcv 2.1.0 under numpy 1 for every factor; numpy 2 raises on
    `np.uint8(negative)`, which is the only change here. `img`: (H, W, 3) uint8 BGR.
    """
    import cv2
    from mmcv.image import io as mmcv_io
    from PIL import Image

    backend = backend or mmcv_io.imread_backend
    if backend not in ('cv2', 'pillow'):
        raise ValueError(f'backend: {backend} is not supported. Supported backends are '
                         "'cv2', 'pillow'")
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f'hue_factor:{hue_factor} is not in [-0.5, 0.5].')
    if not (isinstance(img, np.ndarray) and img.ndim in (2, 3)):
        raise TypeError('img should be ndarray with dim=[2 or 3].')
    shift = np.uint8(int(hue_factor * 255) % 256)  # numpy 1's silent wrap-around, made explicit

    if backend == 'pillow':
        assert img.dtype == np.uint8, 'Pillow backend only support uint8 type'
        pil_image = Image.fromarray(img[..., ::-1], mode='RGB')
        h, s, v = pil_image.convert('HSV').split()
        hue = np.array(h, dtype=np.uint8) + shift  # uint8 + uint8 wraps around the hue circle
        pil_image = Image.merge('HSV', (Image.fromarray(hue, 'L'), s, v)).convert('RGB')
        return np.array(pil_image, dtype=img.dtype)[..., ::-1]
    dtype = img.dtype
    hsv = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_BGR2HSV_FULL)
    h, s, v = cv2.split(hsv)
    hsv = cv2.merge([h.astype(np.uint8) + shift, s, v])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL).astype(dtype)


_mmcv_adjust_hue = None  # mmcv's original, before the fix


def install():
    import mmcv
    import mmcv.image
    import mmcv.image.photometric
    global _mmcv_adjust_hue
    if _mmcv_adjust_hue is None:
        _mmcv_adjust_hue = mmcv.image.photometric.adjust_hue  # kept for the tests' comparison
    # mmpretrain's ColorJitter looks up the top-level alias, so replace all three names.
    for module in (mmcv, mmcv.image, mmcv.image.photometric):
        module.adjust_hue = adjust_hue


