"""torch >= 2.6 loads checkpoints with `weights_only=True`; mmengine 0.10.7 does not pass it, so the
safe unpickler refuses every checkpoint the Runner writes (numpy arrays, mmengine HistoryBuffers).
We keep `weights_only=True` and allow-list exactly the globals those checkpoints carry. Anything
else is refused with an error naming the global; a user who trusts one file opts in for that file
only with MIMCO_TRUSTED_CHECKPOINTS=/path/a.pth[:/path/b.pth].
"""
import os
import os.path as osp
import pickle
import re

import numpy as np
import torch

from .checkpoint_integrity import verify_checkpoint_file
from .safetensors_files import is_safetensors_file, load_safetensors_file

TRUST_ENV = 'MIMCO_TRUSTED_CHECKPOINTS'


class UntrustedCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs a global outside the allow-list (it could run code when unpickled)."""


# ---- 1. safe checkpoint loading ----------------------------------------------------------------

BUILTIN_STATISTICS = ('min', 'max', 'current', 'mean')  # HistoryBuffer's own

def _history_buffer_getattr(obj, name):
    """Stands in for `builtins.getattr` while unpickling: mmengine's HistoryBuffer pickles its
    statistics methods as `getattr(HistoryBuffer, 'mean')`; no other use of getattr is allowed."""
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and (name in BUILTIN_STATISTICS or
                                 getattr(obj, name, None) in registered_statistics()):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only HistoryBuffer statistics are '
        f'allowed')


def registered_statistics():
    """The statistics this process registered with `HistoryBuffer.register_statistics` (mmengine
    documents it): the Runner pickles each into the checkpoint's message hub as a global, so a
    resume needs them. Taken by identity from HistoryBuffer's own table: the checkpoint's names
    never import anything."""
    from mmengine.logging import HistoryBuffer
    return [method for name, method in HistoryBuffer._statistics_methods.items()
            if name not in BUILTIN_STATISTICS and callable(method)]


def allowed_checkpoint_globals():
    """Every global that checkpoints written by MMEngine's Runner (and mmpretrain / mmdet / mmseg
    models) contain besides tensors: numpy arrays, scalars and dtypes, and mmengine's logging and
    config containers."""
    from mmengine.config import ConfigDict
    from mmengine.logging import HistoryBuffer
    multiarray = np._core.multiarray
    dtype_classes = [type(np.dtype(name)) for name in (
        'bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64',
        'float16', 'float32', 'float64', 'complex64', 'complex128', 'str', 'bytes', 'object')]
    return [
        multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, *dtype_classes,
        HistoryBuffer, ConfigDict, (_history_buffer_getattr, 'builtins.getattr'),
        *registered_statistics(),
    ]


def _trusted_files():
    return {osp.realpath(osp.expanduser(p)) for p in os.environ.get(TRUST_ENV, '').split(':') if p}


def load_checkpoint_file(filename, map_location='cpu', extra_globals=()):
    """`torch.load` with `weights_only=True` and the allow-list above (plus `extra_globals`, for
    a converter that knows its release format, e.g. DINO's pickled argparse.Namespace); a
    .safetensors file is read as such (safetensors_files).

    Raises:
        FileNotFoundError: `filename` is not a file.
        CorruptCheckpointError: the file is truncated or fails its CRCs (checkpoint_integrity).
        UntrustedCheckpointError: the file needs a global outside the allow-list; the message
            names it and says how to opt in for this one file.
    """
    filename = osp.expanduser(str(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found')
    verify_checkpoint_file(filename)  # torch.load does not check the archive's CRCs
    if is_safetensors_file(filename):  # raw tensors + JSON: nothing to allow-list
        return load_safetensors_file(filename, map_location)
    if osp.realpath(filename) in _trusted_files():
        # The user listed this very file in MIMCO_TRUSTED_CHECKPOINTS: full pickle, by their choice.
        return torch.load(filename, map_location=map_location, weights_only=False)
    try:
        with torch.serialization.safe_globals(allowed_checkpoint_globals() + list(extra_globals)):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r'Unsupported global: GLOBAL (\S+)', str(err))
        what = f'the global {found.group(1)}' if found else 'a pickle operation'
        raise UntrustedCheckpointError(
            f'Refusing to load checkpoint {filename}: it needs {what}, which is not in '
            f'mimco_mm\'s allow-list (unpickling it could run arbitrary code). If you trust this '
            f'file, opt in for it alone with {TRUST_ENV}={osp.realpath(filename)} '
            f'(several files: separate them with ":").') from None


def load_from_local(filename, map_location):
    """mmengine's local loader, by its name and signature: `load_checkpoint_file`."""
    return load_checkpoint_file(filename, map_location)


def install():
    from mmengine.runner.checkpoint import CheckpointLoader

    # Replaces mmengine's `load_from_local` (prefix ''): used by load_checkpoint, init_cfg
    # Pretrained, load_from and resume alike.
    CheckpointLoader.register_scheme(prefixes='', force=True)(load_from_local)


