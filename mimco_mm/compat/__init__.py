"""The fixes the pinned stack needs (docs/stack_fixes.md), one module each, applied once on
`import mimco_mm`. Each keeps the patched function's name, signature and behaviour for every case
it does not fix.

- checkpoint_loading: torch >= 2.6 `weights_only=True` with an exact allow-list for mmengine's
  checkpoints (instead of a blanket `weights_only=False`); every load first checks the file's
  CRCs (checkpoint_integrity: torch.load does not, so flipped bits loaded silently), and reads
  .safetensors files too (safetensors_files: the hub's release format).
- adjust_hue, in1d: numpy 2 breakages in mmcv's colour jitter and mmpretrain's retrieval metrics.
- cpu_dist: multi-process runs on machines without GPUs.
- elastic_restart_store: workers restarted by torchrun (`--max-restarts`) do not read the
  failed attempt's keys from torchrun's store (they connected to dead ports).
- strict_pretrained: `init_cfg=Pretrained` with `strict=True` raises on any key mismatch.
- atomic_checkpoint: checkpoints and `last_checkpoint` are written atomically; resume falls back
  to the newest intact checkpoint when the pointer is broken or its file damaged.
- dataloader_workers: `num_workers=0` works with configs that set `persistent_workers=True`.
- load_image: an unreadable image is an error that names it, or (opt-in) is skipped.
- bf16_amp: a bf16 AmpOptimWrapper has no loss scaler (it only cost a gradient pass and a sync)
  and builds on a CPU-only machine (mmengine asserted a GPU).
- config_text: `Config.pretty_text` formats a config with yapf once, not at every call (MMEngine
  calls it five times per run start and once per checkpoint).
- external_configs: a config naming an installed package's file (`mmdet::...`) reads that
  package's metafile index once per process, not at every reference.
- cache_randomness: a transform subclass's random methods are recorded on the subclass, not
  appended to its parent's list (mmdet's RandAugment doubled mmcv's RandomChoice's).
- multimodal_imports: a recent transformers (GPU images carry one) no longer breaks
  `import mmdet.models` / `mmseg.models` through mmpretrain's multimodal models. First: it must
  run before mmpretrain's models are imported.
"""
import warnings

from . import (adjust_hue, atomic_checkpoint, bf16_amp, cache_randomness, checkpoint_loading,
               config_text, cpu_dist, dataloader_workers, elastic_restart_store,
               external_configs, in1d, load_image, multimodal_imports, strict_pretrained)
from .checkpoint_integrity import CorruptCheckpointError  # noqa: F401
from .checkpoint_loading import (TRUST_ENV, UntrustedCheckpointError,  # noqa: F401
                                 load_checkpoint_file)
from .load_image import BadImageError  # noqa: F401

FIXES = (multimodal_imports, cpu_dist, elastic_restart_store, strict_pretrained,
         checkpoint_loading, adjust_hue, in1d, atomic_checkpoint, dataloader_workers, load_image,
         bf16_amp, cache_randomness, config_text, external_configs)


def apply():
    """Install every fix. Idempotent; called by `import mimco_mm`."""
    # mmengine imports pkg_resources for `mmdet::` configs; setuptools 81 warns on every import.
    warnings.filterwarnings('ignore', message='pkg_resources is deprecated',
                            category=UserWarning)
    for fix in FIXES:
        fix.install()
