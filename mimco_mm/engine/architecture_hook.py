"""`RecordArchitectureHook`: every checkpoint a run writes records the architecture of each
backbone in it (mimco_mm/architecture.py), and a checkpoint the run loads (`load_from`,
`--resume`) must match it. tools/train.py registers it for every run."""
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

from mimco_mm.architecture import ARCH_KEY, ArchitectureMismatch, differences, record


@HOOKS.register_module()
class RecordArchitectureHook(Hook):
    """Adds meta['architecture'] = {state-dict prefix: hyper-parameters} to each checkpoint and
    compares it with the model on every whole-model load."""

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint):
        model = getattr(runner.model, 'module', runner.model)
        checkpoint.setdefault('meta', {})[ARCH_KEY] = record(model)

    def after_load_checkpoint(self, runner, checkpoint):
        recorded = (checkpoint.get('meta') or {}).get(ARCH_KEY)
        if not recorded:
            # written before architectures were recorded (or by another tool): its keys are
            # still checked by the load, its head count cannot be
            print_log('the loaded checkpoint records no architecture: head counts and other '
                      'shape-free settings cannot be checked', logger='current', level=30)
            return
        model = getattr(runner.model, 'module', runner.model)
        for prefix, actual in record(model).items():
            if prefix in recorded:
                diff = differences(recorded[prefix], actual)
                if diff:
                    raise ArchitectureMismatch(
                        f'the checkpoint being loaded holds a different {prefix or "model"!r} '
                        f'than this config builds: ' + '; '.join(diff))
