"""Continue, not restart, after torchrun restarts the workers.

`torchrun --max-restarts N` (or PET_MAX_RESTARTS=N with tools/dist_train.sh) is PyTorch's own
fault tolerance: when a worker fails, torchrun stops the others and starts every worker again
with the same command line, TORCHELASTIC_RESTART_COUNT counting the restarts. PyTorch leaves
loading the last checkpoint to the training script. MMEngine's Runner does not do it, so a
restarted run began again at iteration 0 in the same work dir: the failure was recovered from,
but everything trained before it was trained again (days, for a failure late in a 100-epoch
run), and the first attempt's checkpoints were overwritten as the new attempt reached them.

`tools/train.py` calls `resume_after_restart` on every start under torchrun. On a restart it
resumes from the work dir's newest intact checkpoint, but only from one written since this
torchrun started. Older files belong to an earlier launch, which the first
attempt deliberately did not continue (it was started without `--resume`, or with `--resume` of
a given file). That first attempt's choice is kept when this launch wrote nothing. The launch
time is the one tools/_torchrun.py exports, else the start time of the worker's parent,
torchrun's agent (Linux /proc). Process 0 decides for all processes (see
`resume_after_restart` for why).
"""
import os
import os.path as osp

from mimco_mm.compat.elastic_restart_store import RESTART_COUNT_ENV

LAUNCHED_AT_ENV = 'MIMCO_LAUNCHED_AT'  # set by tools/_torchrun.py: the launch's time.time()


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


def launch_time(environ=None):
    """When this torchrun launch began: MIMCO_LAUNCHED_AT, which tools/_torchrun.py sets (also
    right where torchrun runs the script through a wrapper), else the start time of this
    worker's parent, torchrun's agent (Linux /proc); None when neither tells."""
    environ = os.environ if environ is None else environ
    try:
        return float(environ[LAUNCHED_AT_ENV])
    except (KeyError, ValueError):
        return process_started_at(os.getppid())


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


def restart_decision(work_dir, launches, restarted):
    """What a start under torchrun's agent resumes from: (checkpoint or None, line for the log
    or None). `launches`: every process's launch time (its agent's start; None where unknown),
    `restarted`: whether any process knows this is a restart (a first attempt keeps its
    choice: only another run writing into the same work dir could have written a file since).
    The launch began when its first agent did (an agent that joined later, on another node,
    belongs to the same launch)."""
    if not restarted:
        return None, None
    if None in launches:
        return None, ('torchrun restart: the launch time is unknown (no /proc), so the run '
                      'starts as its first attempt did; pass --resume to continue from the '
                      'work dir\'s latest checkpoint')
    latest = checkpoint_of_this_launch(work_dir, min(launches))
    if latest is not None:
        return latest, f'torchrun restart: resuming from {latest}, written by this launch'
    return None, (f'torchrun restart: no checkpoint written in {work_dir} since this launch; '
                  f'starting as the first attempt did')


def resume_after_restart(runner, environ=None, launched_at=None):
    """Under torchrun's agent, on a restart: set `runner` to resume from the checkpoint this
    launch wrote last, if it wrote one. Called on every start, once the process group exists
    (after the Runner is built), because the processes decide together: process 0 decides,
    from the earliest launch time of all and whether any process knows of a restart, and the
    others follow. Each process alone could not: on several nodes, an agent that restarted its
    workers for another node's failure leaves them TORCHELASTIC_RESTART_COUNT 0, and they would
    start from iteration 0 while the others resumed. Returns the decision's line for the log
    (None when there is nothing to say). `launched_at` (tests): this process's launch time
    instead of `launch_time`."""
    from mmengine.dist import all_gather_object, broadcast_object_list, get_rank

    from mimco_mm.compat.elastic_restart_store import attempt_name, is_first_attempt
    environ = os.environ if environ is None else environ
    if RESTART_COUNT_ENV not in environ:
        return None  # not started by torchrun's agent
    if launched_at is None:
        launched_at = launch_time(environ)
    name = attempt_name(environ)
    restarted = int(environ[RESTART_COUNT_ENV]) > 0 or (name is not None
                                                          and not is_first_attempt(name))
    known = all_gather_object((launched_at, restarted))
    decision = [None, None]
    if get_rank() == 0:
        decision = list(restart_decision(runner.work_dir, [t for t, _ in known],
                                         any(r for _, r in known)))
    broadcast_object_list(decision)
    latest, line = decision
    if latest is not None:
        runner._resume, runner._load_from = True, latest  # what Runner.load_or_resume reads
        runner.cfg.resume, runner.cfg.load_from = True, latest  # the config it dumps
    return line
