"""The few fixes the pinned stack needs (DESIGN.md section 4), applied once on `import mimco_mm`.

1. Checkpoints under torch >= 2.6. mmengine 0.10.7 calls `torch.load` without `weights_only`, so
   torch's safe unpickler refuses every checkpoint the Runner writes (they hold numpy arrays and
   mmengine `HistoryBuffer`s). We keep `weights_only=True` and allow-list exactly the globals those
   checkpoints carry. Anything else is refused with an error naming the global; a user who trusts
   one file opts in for that file only with MIMCO_TRUSTED_CHECKPOINTS=/path/a.pth[:/path/b.pth].
2. numpy 2: `mmcv.adjust_hue` overflows for a negative hue (`np.uint8(-8)` raises), which crashes
   MoCo v3's ColorJitter about 3 draws in 4; mmpretrain's retrieval metrics call the removed
   `np.in1d`.
3. CPU-only multi-process runs (gloo): mmengine selects a CUDA device even without one.
4. `init_cfg=dict(type='Pretrained', ...)` loads with strict=False and only warns, so a wrong
   prefix trains from scratch in silence. Our `Pretrained` takes `strict=True` (with
   `allow_missing` / `allow_unexpected` name patterns) and then raises on any other mismatch.
   Without `strict` it behaves exactly like mmengine's.
"""
import os
import os.path as osp
import pickle
import re
import types

import numpy as np
import torch

TRUST_ENV = 'MIMCO_TRUSTED_CHECKPOINTS'


class UntrustedCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs a global outside the allow-list (it could run code when unpickled)."""


# ---- 1. safe checkpoint loading ----------------------------------------------------------------

def _history_buffer_getattr(obj, name):
    """Stands in for `builtins.getattr` while unpickling: mmengine's HistoryBuffer pickles its
    statistics methods as `getattr(HistoryBuffer, 'mean')`; no other use of getattr is allowed."""
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and name in ('min', 'max', 'current', 'mean'):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only HistoryBuffer statistics are allowed')


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
    ]


def _trusted_files():
    return {osp.realpath(osp.expanduser(p)) for p in os.environ.get(TRUST_ENV, '').split(':') if p}


def load_checkpoint_file(filename, map_location='cpu'):
    """`torch.load` with `weights_only=True` and the allow-list above.

    Raises:
        FileNotFoundError: `filename` is not a file.
        UntrustedCheckpointError: the file needs a global outside the allow-list; the message
            names it and says how to opt in for this one file.
    """
    filename = osp.expanduser(str(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found')
    if osp.realpath(filename) in _trusted_files():
        # The user listed this very file in MIMCO_TRUSTED_CHECKPOINTS: full pickle, by their choice.
        return torch.load(filename, map_location=map_location, weights_only=False)
    try:
        with torch.serialization.safe_globals(allowed_checkpoint_globals()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r'Unsupported global: GLOBAL (\S+)', str(err))
        what = f'the global {found.group(1)}' if found else 'a pickle operation'
        raise UntrustedCheckpointError(
            f'Refusing to load checkpoint {filename}: it needs {what}, which is not in '
            f'mimco_mm\'s allow-list (unpickling it could run arbitrary code). If you trust this '
            f'file, opt in for it alone with {TRUST_ENV}={osp.realpath(filename)} '
            f'(several files: separate them with ":").') from None


def _install_checkpoint_loader():
    from mmengine.runner.checkpoint import CheckpointLoader

    # Overrides mmengine's `load_from_local` (prefix ''): used by load_checkpoint, init_cfg
    # Pretrained, load_from and resume alike.
    CheckpointLoader.register_scheme(prefixes='', force=True)(load_checkpoint_file)


# ---- 2. numpy 2 ----------------------------------------------------------------------------------

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


def _install_adjust_hue():
    import mmcv
    import mmcv.image
    import mmcv.image.photometric
    global _mmcv_adjust_hue
    if _mmcv_adjust_hue is None:
        _mmcv_adjust_hue = mmcv.image.photometric.adjust_hue  # kept for the tests' comparison
    # mmpretrain's ColorJitter looks up the top-level alias, so replace all three names.
    for module in (mmcv, mmcv.image, mmcv.image.photometric):
        module.adjust_hue = adjust_hue


class _NumpyWithIn1d(types.ModuleType):
    """numpy as seen by mmpretrain's retrieval metrics: `in1d` (removed in numpy 2.4) is `isin`."""

    in1d = staticmethod(np.isin)

    def __getattr__(self, name):
        return getattr(np, name)


def _install_in1d():
    if hasattr(np, 'in1d'):
        return
    from mmpretrain.evaluation.metrics import retrieval
    retrieval.np = _NumpyWithIn1d('numpy')  # scoped to that module, numpy itself is untouched


# ---- 3. multi-process training on CPU ------------------------------------------------------------

def _install_cpu_dist_init():
    """mmengine's pytorch launcher calls `torch.cuda.set_device` unconditionally, so
    `dist_train.sh CONFIG 2` on a machine without GPUs dies before gloo starts."""
    import torch.distributed as torch_dist
    from mmengine.dist import utils as dist_utils
    if getattr(dist_utils._init_dist_pytorch, '_mimco_cpu_fix', False):
        return
    original = dist_utils._init_dist_pytorch

    def init_dist_pytorch(backend, init_backend='torch', **kwargs):
        if torch.cuda.is_available() or init_backend != 'torch':
            return original(backend, init_backend, **kwargs)
        torch_dist.init_process_group(backend=backend, **kwargs)

    init_dist_pytorch._mimco_cpu_fix = True
    dist_utils._init_dist_pytorch = init_dist_pytorch


# ---- 4. loud Pretrained init ---------------------------------------------------------------------

def _checked_pretrained_class():
    import fnmatch

    from mmengine.model.weight_init import PretrainedInit
    from mmengine.runner.checkpoint import _load_checkpoint_with_prefix

    class CheckedPretrainedInit(PretrainedInit):
        """mmengine's PretrainedInit plus an opt-in strict mode.

        Args (besides checkpoint, prefix, map_location):
            strict: every tensor of the module must come from the checkpoint and every
                checkpoint tensor under `prefix` must be used, except names matching
                `allow_missing` / `allow_unexpected` (fnmatch patterns, e.g. 'ln2.*').
        """

        def __init__(self, checkpoint, prefix=None, map_location='cpu', strict=False,
                     allow_missing=(), allow_unexpected=()):
            super().__init__(checkpoint, prefix=prefix, map_location=map_location)
            self.strict = strict
            self.allow_missing = tuple(allow_missing)
            self.allow_unexpected = tuple(allow_unexpected)

        def __call__(self, module):
            if not self.strict:
                return super().__call__(module)
            if self.prefix is None:
                state = load_checkpoint_file(self.checkpoint, self.map_location)
                state = state.get('state_dict', state)
            else:
                state = _load_checkpoint_with_prefix(self.prefix, self.checkpoint,
                                                     map_location=self.map_location)
            own = module.state_dict()
            missing = [k for k in own if k not in state and
                       not any(fnmatch.fnmatch(k, p) for p in self.allow_missing)]
            unexpected = [k for k in state if k not in own and
                          not any(fnmatch.fnmatch(k, p) for p in self.allow_unexpected)]
            if missing or unexpected:
                raise KeyError(
                    f'{self.checkpoint} (prefix {self.prefix!r}) does not fit '
                    f'{type(module).__name__}: missing {missing[:8]} ({len(missing)}), '
                    f'unexpected {unexpected[:8]} ({len(unexpected)}). A wrong prefix or '
                    f'architecture would otherwise train from scratch without a word.')
            module.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
            from mmengine.logging import print_log
            print_log(f'loaded {sum(k in state for k in own)}/{len(own)} tensors of '
                      f'{type(module).__name__} from {self.checkpoint} (prefix {self.prefix!r})',
                      logger='current')
            if hasattr(module, '_params_init_info'):
                from mmengine.model.weight_init import update_init_info
                update_init_info(module, init_info=self._get_init_info())

    return CheckedPretrainedInit


def _install_checked_pretrained():
    from mmengine.registry import WEIGHT_INITIALIZERS
    if getattr(WEIGHT_INITIALIZERS.get('Pretrained'), '_mimco_checked', False):
        return
    cls = _checked_pretrained_class()
    cls._mimco_checked = True
    WEIGHT_INITIALIZERS.register_module(name='Pretrained', module=cls, force=True)


def apply():
    """Install every fix. Idempotent; called by `import mimco_mm`."""
    # mmengine imports pkg_resources for `mmdet::` configs; setuptools 81 warns on every import.
    import warnings
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated',
                            category=UserWarning)
    _install_cpu_dist_init()
    _install_checked_pretrained()
    _install_checkpoint_loader()
    _install_adjust_hue()
    _install_in1d()
