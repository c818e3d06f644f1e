"""TorchRandomResizedCrop / resize_like_pillow: Pillow's antialiased resize on torch's kernels
gives Pillow's image (cv2's unfiltered cubic, the other fast path, does not)."""
import mmcv
import numpy as np
import pytest
import skimage.data
from mmpretrain.registry import TRANSFORMS

from mimco_mm.datasets import resize_like_pillow

PHOTOS = ('astronaut', 'coffee', 'chelsea', 'rocket', 'camera', 'grass')  # camera: grey


def difference(a, b):
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return int(d.max()), float(d.mean())


@pytest.mark.parametrize('name', PHOTOS)
@pytest.mark.parametrize('interpolation', ['bicubic', 'bilinear'])
def test_shrinking_gives_pillows_image(name, interpolation):
    img = getattr(skimage.data, name)()
    for size in [(224, 224), (160, 120)]:
        pillow = mmcv.imresize(img, size, interpolation=interpolation, backend='pillow')
        ours = resize_like_pillow(img, size, interpolation)
        assert ours.shape == pillow.shape and ours.dtype == np.uint8
        worst, mean = difference(ours, pillow)
        assert worst <= 1 and mean < 0.01, (size, worst, mean)
        # the filter matters: cv2's cubic (no antialiasing) is far from Pillow's on a shrink
        _, cv2_mean = difference(mmcv.imresize(img, size, interpolation=interpolation,
                                               backend='cv2'), pillow)
        assert cv2_mean > 50 * max(mean, 0.01)


@pytest.mark.parametrize('name', PHOTOS)
def test_enlarging_stays_within_a_few_levels_of_pillow(name):
    img = getattr(skimage.data, name)()[:150, :200]
    worst, mean = difference(resize_like_pillow(img, (320, 240)),
                             mmcv.imresize(img, (320, 240), interpolation='bicubic',
                                           backend='pillow'))
    assert worst <= 8 and mean < 0.5


def test_the_transform_draws_the_crops_of_random_resized_crop():
    img = skimage.data.coffee()
    ours = TRANSFORMS.build(dict(type='TorchRandomResizedCrop', scale=224,
                                 crop_ratio_range=(0.67, 1.0), interpolation='bicubic'))
    theirs = TRANSFORMS.build(dict(type='RandomResizedCrop', scale=224,
                                   crop_ratio_range=(0.67, 1.0), interpolation='bicubic',
                                   backend='pillow'))
    for seed in range(5):
        np.random.seed(seed)
        a = ours(dict(img=img.copy()))
        np.random.seed(seed)
        b = theirs(dict(img=img.copy()))
        assert a['img_shape'] == b['img_shape'] == (224, 224, 3)
        worst, mean = difference(a['img'], b['img'])
        assert worst <= 8 and mean < 0.05, (seed, worst, mean)


def test_what_it_cannot_do_is_an_error():
    with pytest.raises(TypeError, match='no backend argument'):
        TRANSFORMS.build(dict(type='TorchRandomResizedCrop', scale=224, backend='cv2'))
    with pytest.raises(ValueError, match="not 'nearest'"):
        TRANSFORMS.build(dict(type='TorchRandomResizedCrop', scale=224, interpolation='nearest'))
    with pytest.raises(TypeError, match='uint8'):
        resize_like_pillow(np.zeros((8, 8, 3), np.float32), (4, 4))
