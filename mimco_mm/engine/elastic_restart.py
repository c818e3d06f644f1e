"""Continue, not restart, after torchrun restarts the workers.

`torchrun --max-restarts N` (or PET_MAX_RESTARTS=N with tools/dist_train.sh) is PyTorch's own
fault tolerance: when a worker fails, torchrun stops the others and starts every worker again
with the same command line, TORCHELASTIC_RESTART_COUNT counting the restarts. PyTorch leaves
loading the last checkpoint to the training script. MMEngine's Runner does not do it, so a
restarted run began again at iteration 0 in the same work dir: the failure was recovered from,
but everything trained before it was trained again (days, for a failure late in a 100-epoch
run), and the first attempt's checkpoints were overwritten as the new attempt reached them.

`tools/train.py` calls `resume_after_restart` on every start. On a restart it resumes from the
work dir's newest intact checkpoint, but only from one written since this torchrun started.
Older files belong to an earlier launch, which the first attempt deliberately did not continue
(it was started without `--resume`, or with `--resume` of a given file). That first attempt's
choice is kept when it wrote nothing. The launch time is the start time of the worker's parent,
torchrun's agent (Linux /proc).
"""
import os
import os.path as osp

from mimco_mm.compat.elastic_restart_store import RESTART_COUNT_ENV


def process_started_at(pid):
    """Wall-clock start time of process `pid` (seconds since the epoch), None when /proc cannot
    tell (not Linux, no such process)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            # the command name (field 2) may hold spaces and parentheses: split after its ')'
            fields = f.read().rsplit(')', 1)[1].split()
        with open('/proc/stat') as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith('btime '))
    except (OSError, StopIteration, IndexError, ValueError):
        return None
    return boot + int(fields[19]) / os.sysconf('SC_CLK_TCK')  # field 22: start, in clock ticks


def checkpoint_of_this_launch(work_dir, launched_at):
    """The newest intact checkpoint in `work_dir` (what `--resume` would take) when it was
    written after `launched_at`; None otherwise."""
    from mimco_mm.compat.atomic_checkpoint import find_latest_checkpoint
    if not osp.isdir(work_dir):
        return None
    latest = find_latest_checkpoint(work_dir)
    if latest and osp.isfile(latest) and osp.getmtime(latest) >= launched_at:
        return latest
    return None


def resume_after_restart(cfg, environ=None, launched_at=None):
    """On a restart by torchrun's agent: set `cfg` to resume from the checkpoint this launch
    wrote last. Returns a line for the log saying what was decided, None on a first start.
    `launched_at` (tests): the launch time instead of the agent's start time."""
    environ = os.environ if environ is None else environ
    restarts = int(environ.get(RESTART_COUNT_ENV) or 0)
    if restarts == 0:
        return None
    if launched_at is None:
        launched_at = process_started_at(os.getppid())
    if launched_at is None:
        return (f'torchrun restart {restarts}: the launch time is unknown (no /proc), so the '
                f'run starts as its first attempt did; pass --resume to continue from the work '
                f'dir\'s latest checkpoint')
    latest = checkpoint_of_this_launch(cfg.work_dir, launched_at)
    if latest is None:
        return (f'torchrun restart {restarts}: no checkpoint written in {cfg.work_dir} since '
                f'this launch; starting as the first attempt did')
    cfg.resume, cfg.load_from = True, latest
    return f'torchrun restart {restarts}: resuming from {latest}, written by this launch'
