"""`ScheduleCheckHook`: the lr (and momentum) schedule must cover the training it drives.

The schedules in our configs, as in mmpretrain's, mmdet's and mmseg's, are written out from the
training length when the config file is read (`end=max_epochs`, `T_max=max_epochs - warmup`).
`--cfg-options train_cfg.max_epochs=300` therefore changes the length but not the schedule:
- if the schedule now ends first, the rest of the run trains at its final lr (a cosine's
  eta_min: 200 of 300 epochs at 1e-6), and nothing says so;
- a cosine whose `T_max` is shorter than its `begin..end` span turns back up after T_max
  (MMEngine's cosine is periodic).
Both are errors before the first step, naming the scheduler and the `--cfg-options` that make
the schedule follow. A schedule that runs past the end of training (a short test run, a budget
cut) only warns: the run ends before the lr has decayed, which is fine for a smoke test and
wrong for a result.

tools/train.py adds this hook to every run; a `ScheduleCheckHook` in the config's
`custom_hooks` replaces it (`action='warn'` turns the errors into warnings).
"""
import math

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop


def _unit(by_epoch):
    return 'epoch' if by_epoch else 'iteration'


def schedule_problems(schedulers, max_epochs, max_iters, iters_per_epoch):
    """Check scheduler configs against the training length.

    Args:
        schedulers: the config's `param_scheduler` (a dict, a list of dicts, or a dict of those
            per optimizer).
        max_epochs, max_iters: the training length (a run counts one of them; the other may
            be derived, as Runner.max_iters is for an epoch loop).
        iters_per_epoch: iterations per epoch, or None when the loop counts iterations only
            (an epoch-based scheduler then cannot be compared, and is skipped).
    Returns:
        (errors, warnings): lists of sentences.
    """
    if isinstance(schedulers, dict) and 'type' not in schedulers:  # one list per optimizer
        items = [(f'{name}.', cfgs) for name, cfgs in schedulers.items()]
    else:
        items = [('', schedulers)]
    errors, warnings = [], []
    for prefix, cfgs in items:
        cfgs = [cfgs] if isinstance(cfgs, dict) else list(cfgs or [])
        latest = {}  # param name -> (end in iterations, index, cfg)
        for index, cfg in enumerate(cfgs):
            name = f'param_scheduler.{prefix}{index}'
            by_epoch = cfg.get('by_epoch', True)
            begin, end = cfg.get('begin', 0), cfg.get('end', math.inf)
            if by_epoch and iters_per_epoch is None:
                continue
            scale = iters_per_epoch if by_epoch else 1
            t_max = cfg.get('T_max')
            if 'CosineAnnealing' in str(cfg.get('type')) and t_max and end != math.inf:
                if t_max < end - begin:
                    errors.append(
                        f'{name} ({cfg["type"]}) has T_max={t_max} but runs from {begin} to '
                        f'{end} ({end - begin} {_unit(by_epoch)}s): after T_max the cosine turns '
                        f'back up. Set {name}.T_max={end - begin}.')
                elif t_max > end - begin:
                    warnings.append(
                        f'{name} ({cfg["type"]}) has T_max={t_max} but stops after '
                        f'{end - begin} {_unit(by_epoch)}s: it never reaches its eta_min.')
            param = cfg.get('param_name') or ('momentum' if 'Momentum' in str(cfg.get('type'))
                                              else 'lr')
            if end * scale > latest.get(param, (-1, ))[0]:
                latest[param] = (end * scale, index, cfg)
        for param, (end_iters, index, cfg) in latest.items():
            if end_iters == math.inf:
                continue
            name, by_epoch = f'param_scheduler.{prefix}{index}', cfg.get('by_epoch', True)
            total = max_epochs if by_epoch else max_iters
            end = cfg.get('end')
            if end_iters < max_iters:
                fix = f'{name}.end={total}'
                if 'CosineAnnealing' in str(cfg['type']) and cfg.get('T_max'):
                    fix += f' {name}.T_max={total - cfg.get("begin", 0)}'
                errors.append(
                    f'the {param} schedule ends at {_unit(by_epoch)} {end} ({name}, '
                    f'{cfg["type"]}) but training runs {total} {_unit(by_epoch)}s: the last '
                    f'{total - end} would train at the schedule\'s final {param}. Change the '
                    f'schedule with the training length, e.g. --cfg-options {fix}.')
            elif end_iters > max_iters:
                warnings.append(
                    f'training stops at {_unit(by_epoch)} {total}, before its {param} schedule '
                    f'ends ({name}, {cfg["type"]}, end={end}): fine for a test run, not for a '
                    f'result.')
    return errors, warnings


@HOOKS.register_module()
class ScheduleCheckHook(Hook):
    """Before the first step: errors (or warnings) when the schedule and the training length
    disagree (see the module docstring).

    Args:
        action (str): 'error' (default) or 'warn'.
    """

    priority = 'VERY_HIGH'

    def __init__(self, action='error'):
        if action not in ('error', 'warn'):
            raise ValueError(f"ScheduleCheckHook action must be 'error' or 'warn', got {action!r}")
        self.action = action

    def before_train(self, runner):
        loop = runner.train_loop
        iters_per_epoch = (len(loop.dataloader) if isinstance(loop, EpochBasedTrainLoop)
                           else None)
        errors, warnings = schedule_problems(runner.cfg.get('param_scheduler'),
                                             runner.max_epochs, runner.max_iters,
                                             iters_per_epoch)
        for message in warnings + (errors if self.action == 'warn' else []):
            print_log(f'ScheduleCheckHook: {message}', logger='current', level=30)
        if errors and self.action == 'error':
            raise ValueError('the lr schedule does not fit the training length:\n- ' +
                             '\n- '.join(errors) + "\n(ScheduleCheckHook(action='warn') in "
                             "custom_hooks lets it run anyway)")
