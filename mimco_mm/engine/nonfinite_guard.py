"""`NonFiniteGuardHook`: a NaN / Inf loss or gradient never reaches the weights or a checkpoint.

Without it, one bad batch, or a bf16 / fp16 overflow, turns the CLS token and position embedding
into NaN and every later checkpoint with them (MAE, iBOT and DINO trackers are full of such reports).
With the guard:

- each optimizer step first checks the loss (every process's, all-reduced) and the total
  gradient norm; if either is not finite the update is skipped (with a dynamic loss scaler the
  scaler still sees the overflow and lowers its scale), and buffers the forward pass changed
  (BatchNorm statistics, also those copied into a momentum encoder) are put back;
- the skip is logged with the iteration, every non-finite loss term and the gradient norm;
- after `max_consecutive` skipped steps in a row the run stops with an error naming the
  iteration, the loss terms and the last good checkpoint (`action='stop'`, the default), or
  rolls back to that checkpoint and replays with fresh random draws (`action='rollback'`,
  needs a Resumable{Epoch,Iter}BasedTrainLoop; at most `max_rollbacks` times, then it stops);
- a checkpoint that would hold a non-finite tensor is refused before anything is written.

The gradient norm (before clipping) is logged as `grad_norm` every step, the loss scale as
`loss_scale` under a loss scaler.

Why `stop` is the default: a run that keeps producing NaN from finite weights has usually
diverged (lr too high for the batch, fp16 overflow), and a replay from the last checkpoint with
the same settings tends to diverge again after costing the interval since that checkpoint; the
error says what to change. `rollback` is for unattended runs where a rare bad stretch is likelier.
"""
import torch
import torch.distributed as torch_dist
from mmengine.dist import get_world_size, is_distributed
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

from mimco_mm.compat.atomic_checkpoint import find_latest_checkpoint


class NonFiniteLossError(RuntimeError):
    """Training produced non-finite losses or gradients for too many steps in a row."""


class NonFiniteCheckpointError(RuntimeError):
    """A checkpoint about to be written holds a NaN or Inf tensor."""


def total_grad_norm(optimizer):
    """L2 norm over every gradient of `optimizer`'s parameters (0-dim float32 tensor)."""
    grads = [p.grad for group in optimizer.param_groups for p in group['params']
             if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads, norm_type=2.0).float()


def non_finite_entries(tensors, limit=8):
    """Names of the floating tensors in a flat or nested dict that hold a NaN or Inf."""
    found = []

    def visit(prefix, value):
        if len(found) >= limit:
            return
        if isinstance(value, torch.Tensor):
            if value.is_floating_point() and not torch.isfinite(value).all():
                found.append(prefix)
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(f'{prefix}.{key}' if prefix else str(key), item)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                visit(f'{prefix}[{i}]', item)

    visit('', tensors)
    return found


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Skip non-finite steps; stop or roll back after too many in a row.

    Args:
        max_consecutive (int): skipped steps in a row that end the run (or trigger a rollback).
        action (str): 'stop' (default) or 'rollback'.
        max_rollbacks (int): with 'rollback', how many rollbacks before stopping.
    """

    priority = 'ABOVE_NORMAL'  # before LoggerHook and CheckpointHook in after_train_iter

    def __init__(self, max_consecutive=3, action='stop', max_rollbacks=3):
        if action not in ('stop', 'rollback'):
            raise ValueError(f"NonFiniteGuardHook action must be 'stop' or 'rollback', "
                             f'got {action!r}')
        if max_consecutive < 1:
            raise ValueError(f'max_consecutive must be >= 1, got {max_consecutive}')
        self.max_consecutive = max_consecutive
        self.action = action
        self.max_rollbacks = max_rollbacks
        self.consecutive = 0
        self.rollbacks = 0
        self.skipped_total = 0
        self._loss_bad = None
        self._step = None  # what the last optimizer step decided
        self._buffers = []
        self._buffer_modules = []

    # ---- the optimizer wrapper -------------------------------------------------------------

    def before_train(self, runner):
        wrapper = runner.optim_wrapper
        if not hasattr(wrapper, 'update_params') or not hasattr(wrapper, 'optimizer'):
            raise TypeError(f'NonFiniteGuardHook guards a single OptimWrapper / AmpOptimWrapper; '
                            f'got {type(wrapper).__name__}')
        model = getattr(runner.model, 'module', runner.model)
        # the modules that hold buffers, found once (walking every module each step costs ~1 ms
        # of host time); which of them train is checked at each step
        self._buffer_modules = [m for m in model.modules()
                                if next(m.buffers(recurse=False), None) is not None]
        if getattr(wrapper, '_nonfinite_guard', None) is self:
            return
        self._install(wrapper, runner)

    def _install(self, wrapper, runner):
        update_params, step = wrapper.update_params, wrapper.step
        scaler = getattr(wrapper, 'loss_scaler', None)
        if scaler is not None and not scaler.is_enabled():
            # bf16 (mimco_mm/compat/bf16_amp.py): a disabled scaler steps straight
            # through, inf gradients included, so the guard must skip those steps itself
            scaler = None

        def guarded_update_params(loss, step_kwargs=None, zero_kwargs=None):
            bad = ~torch.isfinite(loss.detach()).all()
            self._loss_bad = bad if self._loss_bad is None else (self._loss_bad | bad)
            return update_params(loss, step_kwargs=step_kwargs, zero_kwargs=zero_kwargs)

        def guarded_step(**kwargs):
            norm = total_grad_norm(wrapper.optimizer)
            loss_bad = self._loss_bad if self._loss_bad is not None else torch.tensor(False)
            self._loss_bad = None
            flags = torch.stack([loss_bad.float().to(norm.device),
                                 (~torch.isfinite(norm)).float()])
            if is_distributed() and get_world_size() > 1:
                # grads are already all-reduced; the loss is per process: every process must
                # take the same decision or their weights drift apart
                torch_dist.all_reduce(flags, op=torch_dist.ReduceOp.MAX)
            loss_bad, grad_bad = (bool(v) for v in flags.tolist())
            scale = float(scaler.get_scale()) if scaler is not None else None
            grad_norm = float(norm) / scale if scale else float(norm)
            self._step = dict(skipped=loss_bad or grad_bad, loss_bad=loss_bad,
                              grad_bad=grad_bad, grad_norm=grad_norm)
            if not wrapper.clip_grad_kwargs:  # with clipping, mmengine logs the same norm
                runner.message_hub.update_scalar('train/grad_norm', grad_norm)
            if scale is not None:
                runner.message_hub.update_scalar('train/loss_scale', scale)
            if not (loss_bad or grad_bad):
                return step(**kwargs)
            if scaler is not None and grad_bad:
                return step(**kwargs)  # the scaler skips the update and lowers its scale
            return None  # no update

        wrapper.update_params = guarded_update_params
        wrapper.step = guarded_step
        wrapper._nonfinite_guard = self

    # ---- per iteration -----------------------------------------------------------------------

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        """Remember the buffers a forward pass may change (modules in training mode only: the
        frozen teacher's tensors are never copied)."""
        self._step = None
        self._buffers = [(buf, buf.detach().clone()) for module in self._buffer_modules
                         if module.training for buf in module.buffers(recurse=False)]

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        step = self._step
        if step is None:
            return  # no optimizer step this iteration (gradient accumulation)
        if not step['skipped']:
            self.consecutive = 0
            return
        with torch.no_grad():
            for buf, saved in self._buffers:
                buf.copy_(saved)
        self.consecutive += 1
        self.skipped_total += 1
        terms = self._describe_terms(outputs)
        where = f'iteration {runner.iter + 1} (epoch {runner.epoch + 1})'
        print_log(f'non-finite step at {where}: {terms}; grad norm {step["grad_norm"]:.4g}; '
                  f'update skipped ({self.consecutive} in a row, limit {self.max_consecutive}; '
                  f'{self.skipped_total} in this run)', logger='current', level=30)
        runner.message_hub.update_scalar('train/skipped_steps', self.skipped_total)
        if self.consecutive < self.max_consecutive:
            return
        last_good = find_latest_checkpoint(runner.work_dir)
        if self.action == 'rollback' and last_good and self.rollbacks < self.max_rollbacks:
            if not hasattr(runner.train_loop, 'request_rollback'):
                raise TypeError("NonFiniteGuardHook(action='rollback') needs train_cfg type "
                                "'ResumableEpochBasedTrainLoop' or 'ResumableIterBasedTrainLoop'")
            self.rollbacks += 1
            self.consecutive = 0
            print_log(f'{self.max_consecutive} non-finite steps in a row at {where}: rolling '
                      f'back to {last_good} (rollback {self.rollbacks} of at most '
                      f'{self.max_rollbacks})', logger='current', level=30)
            runner.train_loop.request_rollback(last_good)
            return
        raise NonFiniteLossError(
            f'{self.consecutive} training steps in a row had a non-finite loss or gradient, the '
            f'last at {where}: {terms}, grad norm {step["grad_norm"]:.4g}. No update was applied '
            f'in these steps and no checkpoint holds a non-finite tensor; the last good '
            f'checkpoint is {last_good or "(none written yet)"}'
            f'{f" (after {self.rollbacks} rollbacks)" if self.rollbacks else ""}. Usual causes: '
            f'an lr too high for the batch size, fp16 overflow (train in bf16 or fp32), no '
            f'gradient clipping. Resume from that checkpoint with `--resume` after changing the '
            f"config, or set NonFiniteGuardHook(action='rollback').")

    @staticmethod
    def _describe_terms(outputs):
        if not isinstance(outputs, dict):
            return 'loss terms unavailable'
        parts = []
        for name, value in outputs.items():
            if isinstance(value, torch.Tensor):
                value = value.detach().float().mean().item()
            if isinstance(value, float):
                flag = '' if value == value and abs(value) != float('inf') else ' <- non-finite'
                parts.append(f'{name}={value:.4g}{flag}')
        return ', '.join(parts) or 'no loss terms logged'

    # ---- checkpoints -------------------------------------------------------------------------

    def before_save_checkpoint(self, runner, checkpoint):
        bad = non_finite_entries({'state_dict': checkpoint.get('state_dict', {}),
                                  'optimizer': checkpoint.get('optimizer', {})})
        if bad:
            raise NonFiniteCheckpointError(
                f'refusing to write a checkpoint at iteration {checkpoint["meta"].get("iter")}: '
                f'non-finite values in {bad}. Earlier checkpoints are untouched.')
