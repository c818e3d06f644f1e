"""MIMDataPreprocessor: SelfSupDataPreprocessor's images and masks, the masks moved as one
tensor."""
import torch
from mmpretrain.models.utils import SelfSupDataPreprocessor
from mmpretrain.structures import DataSample

from mimco_mm.models import MIMDataPreprocessor

ARGS = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)


def batch(masks):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (len(masks), 3, 16, 16), generator=g, dtype=torch.uint8)
    return dict(inputs=images, data_samples=[DataSample().set_mask(m) for m in masks])


def test_same_images_and_masks_as_selfsup_preprocessing():
    masks = [torch.rand(4, 4) < 0.5 for _ in range(6)]
    ours = MIMDataPreprocessor(**ARGS)(batch(masks), True)
    theirs = SelfSupDataPreprocessor(**ARGS)(batch(masks), True)
    assert torch.equal(ours['inputs'][0] if isinstance(ours['inputs'], list) else ours['inputs'],
                       theirs['inputs'][0] if isinstance(theirs['inputs'], list)
                       else theirs['inputs'])
    for a, b, m in zip(ours['data_samples'], theirs['data_samples'], masks):
        assert torch.equal(a.mask, b.mask) and torch.equal(a.mask, m)
    # one tensor behind every sample's mask: the masks were stacked and moved once
    storages = {s.mask.untyped_storage().data_ptr() for s in ours['data_samples']}
    assert len(storages) == 1


def test_samples_of_other_shapes_or_contents_move_one_by_one():
    mixed = batch([torch.zeros(4, 4), torch.ones(2, 2)])
    out = MIMDataPreprocessor(**ARGS)(mixed, True)['data_samples']
    assert [tuple(s.mask.shape) for s in out] == [(4, 4), (2, 2)]
    labelled = batch([torch.zeros(4, 4), torch.ones(4, 4)])
    labelled['data_samples'][0].set_field('a note', 'note')  # not a tensor
    out = MIMDataPreprocessor(**ARGS)(labelled, True)['data_samples']
    assert out[0].note == 'a note' and torch.equal(out[1].mask, torch.ones(4, 4))
    assert len({s.mask.untyped_storage().data_ptr() for s in out}) == 2
