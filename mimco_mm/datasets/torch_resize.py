"""Pillow's antialiased resize, computed by torch's uint8 kernels: the same image, several times
faster (the crop's resize is the largest cost of the stage-2 data pipeline, docs/speed.md "2-core CPU (this project's CI machine)").

Pillow widens its filter by the scale factor when it shrinks (antialiasing: a 400 -> 224 shrink
averages the pixels it drops), which cv2's INTER_CUBIC does not do. torch's
`interpolate(..., antialias=True)` implements Pillow's filters (bilinear, and bicubic with
Pillow's a = -0.5), with vectorised kernels for uint8 images in channels-last layout, which is
what an (H, W, C) numpy image viewed as (1, C, H, W) is. tests/test_torch_resize.py bounds the
difference to Pillow on photographs, shrinking and enlarging.
"""
import mmcv
import numpy as np
import torch
import torch.nn.functional as F
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS

MODES = ('bilinear', 'bicubic')


def resize_like_pillow(img: np.ndarray, size, interpolation: str = 'bicubic') -> np.ndarray:
    """Resize as `mmcv.imresize(img, size, interpolation, backend='pillow')` does.

    Args:
        img: (H, W, C) or (H, W) uint8.
        size: (w, h) of the output, mmcv's order.
        interpolation: 'bilinear' or 'bicubic'.
    Returns:
        (h, w, C) or (h, w) uint8.
    """
    if interpolation not in MODES:
        raise ValueError(f'resize_like_pillow does {MODES}, not {interpolation!r}')
    if img.dtype != np.uint8:
        raise TypeError(f'resize_like_pillow takes uint8 images, got {img.dtype}')
    w, h = size
    x = torch.from_numpy(np.ascontiguousarray(img))
    x = x[..., None] if x.ndim == 2 else x
    with torch.no_grad():
        out = F.interpolate(x.permute(2, 0, 1)[None], size=(h, w), mode=interpolation,
                            antialias=True, align_corners=False)
    out = out[0].permute(1, 2, 0)
    return (out[..., 0] if img.ndim == 2 else out).contiguous().numpy()


@TRANSFORMS.register_module()
class TorchRandomResizedCrop(RandomResizedCrop):
    """mmpretrain's RandomResizedCrop (same crop draws, same arguments) whose resize is
    `resize_like_pillow`: `RandomResizedCrop(backend='pillow')`'s output, faster. Only the
    interpolations 'bilinear' and 'bicubic'; `backend` is not an argument."""

    def __init__(self, *args, **kwargs):
        if 'backend' in kwargs:
            raise TypeError('TorchRandomResizedCrop has no backend argument: it resizes as '
                            "backend='pillow' does, with torch's kernels")
        super().__init__(*args, **kwargs)
        if self.interpolation not in MODES:
            raise ValueError(f'TorchRandomResizedCrop interpolates {MODES}, not '
                             f'{self.interpolation!r}')

    def transform(self, results: dict) -> dict:
        img = results['img']
        offset_h, offset_w, target_h, target_w = self.rand_crop_params(img)
        img = mmcv.imcrop(img, bboxes=np.array([offset_w, offset_h, offset_w + target_w - 1,
                                                offset_h + target_h - 1]))
        img = resize_like_pillow(img, tuple(self.scale[::-1]), self.interpolation)
        results['img'] = img
        results['img_shape'] = img.shape
        return results
