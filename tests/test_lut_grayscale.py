"""LUTRandomGrayscale gives mmpretrain's RandomGrayscale's arrays, and the stage-1 configs (MoCo
v3, MoBY) keep mmpretrain's recipes with the two faster transforms in place of the originals."""
import os.path as osp
import random

import mmpretrain
import numpy as np
import pytest
import skimage.data
from mmengine.config import Config
from mmpretrain.datasets.transforms import RandomGrayscale
from mmpretrain.registry import TRANSFORMS

from mimco_mm.datasets import LUTRandomGrayscale
from tools._common import ROOT, load_config

MOCOV3_WEIGHTS = (0.114, 0.587, 0.2989)  # mmpretrain's MoCo v3 views (BGR order)


def every_colour():
    """(4096, 4096, 3) uint8: each of the 2^24 colours once."""
    codes = np.arange(1 << 24, dtype=np.uint32)
    return np.stack([codes >> 16, (codes >> 8) & 255, codes & 255],
                    axis=-1).astype(np.uint8).reshape(4096, 4096, 3)


@pytest.mark.parametrize('weights', [MOCOV3_WEIGHTS, (1.0, 1.0, 1.0)])
def test_every_colour_turns_the_grey_mmpretrain_gives(weights):
    img = every_colour()
    theirs = RandomGrayscale(prob=1.0, keep_channels=True, channel_weights=weights)
    ours = LUTRandomGrayscale(prob=1.0, keep_channels=True, channel_weights=weights)
    expected = theirs.transform(dict(img=img))['img']
    got = ours.transform(dict(img=img))['img']
    assert got.shape == expected.shape == (4096, 4096, 3) and got.dtype == np.uint8
    assert np.array_equal(got, expected), int((got != expected).any(-1).sum())
    # the colours really do differ in grey (the comparison is not between two constant images)
    assert len(np.unique(got[..., 0])) == 256


def test_same_random_draws_and_arrays_in_a_sequence_of_calls():
    photo = np.ascontiguousarray(skimage.data.astronaut()[::2, ::2, ::-1])
    kwargs = dict(prob=0.4, channel_weights=MOCOV3_WEIGHTS)
    for keep_channels in (True, False):
        theirs = RandomGrayscale(keep_channels=keep_channels, **kwargs)
        ours = LUTRandomGrayscale(keep_channels=keep_channels, **kwargs)
        outputs = {}
        for name, transform in (('theirs', theirs), ('ours', ours)):
            random.seed(3)  # mmcv's RandomGrayscale draws with Python's generator
            outputs[name] = [transform(dict(img=photo.copy()))['img'] for _ in range(12)]
            outputs[name + '_next'] = random.random()  # the same numbers were consumed
        greyed = sum(img.ndim == 2 or not np.array_equal(img, photo) for img in outputs['ours'])
        assert 0 < greyed < 12  # both outcomes of the draw occur
        assert outputs['theirs_next'] == outputs['ours_next']
        for a, b in zip(outputs['theirs'], outputs['ours']):
            assert a.shape == b.shape and a.dtype == b.dtype == np.uint8
            assert np.array_equal(a, b)


def test_what_it_does_not_compute_is_an_error():
    with pytest.raises(ValueError, match="color_format='bgr' only"):
        LUTRandomGrayscale(prob=1.0, color_format='hsv')
    ours = LUTRandomGrayscale(prob=1.0, channel_weights=MOCOV3_WEIGHTS)
    with pytest.raises(TypeError, match='uint8 images, got float32'):
        ours(dict(img=np.zeros((4, 4, 3), np.float32)))
    with pytest.raises(ValueError, match='3 channel weights for a 4-channel image'):
        ours(dict(img=np.zeros((4, 4, 4), np.uint8)))


# The transforms our MoCo v3 views use in place of mmpretrain's, and the originals' arguments.
FASTER = {'TorchRandomResizedCrop': ('RandomResizedCrop', {'backend': 'pillow'}),
          'LUTRandomGrayscale': ('RandomGrayscale', {})}


def as_mmpretrain(step):
    """A copy of `step` with our faster transforms named back to mmpretrain's originals."""
    if isinstance(step, dict):
        step = {k: as_mmpretrain(v) for k, v in step.items()}
        if step.get('type') in FASTER:
            original, extra = FASTER[step['type']]
            step.update(type=original, **extra)
        return step
    if isinstance(step, (list, tuple)):
        return [as_mmpretrain(v) for v in step]
    return step


def normalise(step):
    """Drop arguments that equal the transform's default, so that an explicit default and an
    omitted one compare equal (RandomResizedCrop's interpolation='bilinear')."""
    if isinstance(step, dict):
        step = {k: normalise(v) for k, v in step.items()}
        if step.get('type') == 'RandomResizedCrop' and step.get('interpolation') == 'bilinear':
            step.pop('interpolation')
        return step
    if isinstance(step, (list, tuple)):
        return [normalise(v) for v in step]
    return step


@pytest.mark.parametrize('ours, theirs', [
    ('mocov3/vit-s_300e.py', 'mocov3/mocov3_vit-small-p16_16xb256-amp-coslr-300e_in1k.py'),
    ('mocov3/vit-b_300e.py', 'mocov3/mocov3_vit-base-p16_16xb256-amp-coslr-300e_in1k.py'),
    ('moby/swin-t_300e.py', '_base_/datasets/imagenet_bs32_byol.py'),  # BYOL's views
])
def test_stage1_configs_keep_mmpretrains_views(ours, theirs):
    ours = load_config(f'{ROOT}/configs/{ours}')
    theirs = Config.fromfile(osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'configs', theirs))
    got = ours.train_dataloader.dataset.pipeline
    assert {s['type'] for view in got[1]['transforms'] for s in view} >= set(FASTER)
    assert normalise(as_mmpretrain(got)) == normalise(theirs.train_dataloader.dataset.pipeline)
    # the views build with the registry the configs use
    for view in got[1]['transforms']:
        for step in view:
            TRANSFORMS.build(step)
