"""`RecordArchitectureHook`: every checkpoint a run writes records the architecture of each
backbone in it (mimco_mm/architecture.py), so that every later load can check it.
tools/train.py registers it for every run."""
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from mimco_mm.architecture import ARCH_KEY, record


@HOOKS.register_module()
class RecordArchitectureHook(Hook):
    """Adds meta['architecture'] = {state-dict prefix: hyper-parameters} to each checkpoint."""

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint):
        model = getattr(runner.model, 'module', runner.model)
        checkpoint.setdefault('meta', {})[ARCH_KEY] = record(model)
