"""MMEngine's checkpoint loader reads only pickles, but released weights now mostly come as
`.safetensors` (the Hugging Face hub: timm's ViTs and DINOv2, open_clip, DeiT mirrors), and an
offline GPU node has what was downloaded. Here a safetensors file loads through the same
`load_checkpoint_file` as a `.pth` (init_cfg Pretrained, load_from, teachers, the converters):

- a plain safetensors file (a release) gives its tensors as a bare state dict;
- one we wrote (`save_weights(..., 'x.safetensors')`, e.g. `extract_backbone.py DST.safetensors`)
  also carries our meta (architecture, provenance) as JSON under the metadata key
  'mimco_mm.meta' and gives {'state_dict': tensors, 'meta': meta} like our `.pth` files.

The format holds raw tensors and a JSON header, nothing that runs code, so it needs no
allow-list. A file whose header or length is wrong is a CorruptCheckpointError naming it.
"""
import json
import os
import os.path as osp

import torch

META_KEY = 'mimco_mm.meta'


def is_safetensors_file(filename: str) -> bool:
    """True when the file starts as safetensors does: a little-endian u64 header length that
    fits in the file, then the JSON header's '{'."""
    with open(filename, 'rb') as f:
        head = f.read(9)
    if len(head) < 9 or head[8:9] != b'{':
        return False
    return 0 < int.from_bytes(head[:8], 'little') < os.path.getsize(filename)


def _safetensors():
    try:
        import safetensors.torch
        return safetensors
    except ImportError:
        raise ImportError('reading or writing a .safetensors file needs the safetensors package '
                          '(pip install safetensors; timm and transformers install it)') from None


def load_safetensors_file(filename: str, map_location='cpu'):
    """The file's tensors (a bare state dict), or {'state_dict', 'meta'} when we wrote it.
    `map_location`: a device (str / torch.device) the tensors are moved to; anything else (a
    callable) leaves them on the CPU."""
    from .checkpoint_integrity import CorruptCheckpointError
    safetensors = _safetensors()
    try:
        with safetensors.safe_open(filename, framework='pt') as f:
            metadata = f.metadata() or {}
        tensors = safetensors.torch.load_file(filename, device='cpu')
    except (safetensors.SafetensorError, OSError, ValueError) as err:
        raise CorruptCheckpointError(f'{filename} is not a readable safetensors file ({err}): '
                                     f'truncated or damaged in a download or copy?') from None
    if isinstance(map_location, (str, torch.device)) and str(map_location) != 'cpu':
        tensors = {k: v.to(map_location) for k, v in tensors.items()}
    if META_KEY in metadata:
        return dict(state_dict=tensors, meta=json.loads(metadata[META_KEY]))
    return tensors


def save_weights(dst: str, state: dict, meta: dict) -> None:
    """Write {'state_dict': state, 'meta': meta} to `dst` atomically (a temporary file renamed
    over it): as safetensors (meta as JSON metadata) when `dst` ends in .safetensors, else as a
    torch checkpoint."""
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    tmp = dst + '.tmp'
    if dst.endswith('.safetensors'):
        _safetensors().torch.save_file(
            {k: v.detach().contiguous() for k, v in state.items()}, tmp,
            metadata={'format': 'pt', META_KEY: json.dumps(meta)})
    else:
        torch.save(dict(state_dict=state, meta=meta), tmp)
    os.replace(tmp, dst)  # never a half-written destination
