"""torchrun, as tools/dist_launch.sh runs it, with two changes for preemption (README "Preemption
under torchrun"):

- SIGUSR1 is among the signals torchrun passes on to its workers. torchrun starts every worker
  in a session of its own, so a signal to the job's process group reaches torchrun only, and
  torchrun handles SIGTERM, SIGINT, SIGHUP and SIGQUIT (it sends the same signal to the workers)
  but not SIGUSR1, whose default action ended torchrun at once: the workers never heard of the
  preemption and went on training without a launcher. The list is torchrun's
  `--signals-to-handle` (torch >= 2.11 at least; older torchrun has no such option and still
  dies of SIGUSR1); its environment default PET_SIGNALS_TO_HANDLE is set here unless the
  caller set it, and the option given on the command line wins.
- Exit status 75 when the run was preempted. torchrun turns any failed worker, and its own
  signal, into status 1, so a script that requeues on 75 (as tools/slurm_train.sh does) could
  not tell a preemption from a crash. PreemptionCheckpointHook appends to the file named by
  $MIMCO_PREEMPTED_MARK once its checkpoint is complete; a non-empty file means 75.

Usage: the arguments of `python -m torch.distributed.run`.
"""
import os
import sys
import tempfile

PREEMPTED_EXIT_CODE = 75  # these two as in mimco_mm/engine/preemption.py (the launcher imports
PREEMPTED_MARK_ENV = 'MIMCO_PREEMPTED_MARK'  # no OpenMMLab)
HANDLED = 'SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1'  # torchrun's four, and Slurm's warning


def main(argv=None):
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun
    os.environ.setdefault('PET_SIGNALS_TO_HANDLE', HANDLED)
    fd, mark = tempfile.mkstemp(prefix='mimco_preempted_')
    os.close(fd)
    os.environ[PREEMPTED_MARK_ENV] = mark  # the workers inherit it
    try:
        torchrun(argv)
    except (ChildFailedError, SignalException):
        # torchrun has stopped every worker by now (its close() waits for them)
        if os.path.getsize(mark) > 0:
            with open(mark) as f:
                print(f'[dist_launch] preempted, checkpoint complete ({f.readline().strip()}): '
                      f'exit {PREEMPTED_EXIT_CODE}', file=sys.stderr)
            return PREEMPTED_EXIT_CODE
        raise
    finally:
        os.remove(mark)
    return 0


if __name__ == '__main__':
    sys.exit(main())
