"""torchrun, as tools/dist_launch.sh runs it, with changes for preemption and restarts (docs/long_runs.md
"Preemption", "Restarts"):

- SIGUSR1 is among the signals torchrun passes on to its workers. torchrun starts every worker
  in a session of its own, so a signal to the job's process group reaches torchrun only, and
  torchrun handles SIGTERM, SIGINT, SIGHUP and SIGQUIT (it sends the same signal to the workers)
  but not SIGUSR1, whose default action ended torchrun at once: the workers never heard of the
  preemption and went on training without a launcher. The list is torchrun's
  `--signals-to-handle` (torch >= 2.11 at least); its environment default
  PET_SIGNALS_TO_HANDLE is set here unless the caller set it, and the option given on the
  command line wins. An older torchrun has no such option (torch 2.6 dies of SIGUSR1, status
  -10): there `handle_sigusr1` gives SIGUSR1 torchrun's own handler for
  the other four, which passes it on the same way.
- Exit status 75 when the run was preempted. torchrun turns any failed worker, and its own
  signal, into status 1, so a script that requeues on 75 (as tools/slurm_train.sh does) could
  not tell a preemption from a crash. PreemptionCheckpointHook appends to the file named by
  $MIMCO_PREEMPTED_MARK once its checkpoint is complete; a non-empty file means 75.
- Time for that checkpoint. After passing a signal on, torchrun waits `--shutdown-timeout`
  seconds for the workers (default 30), then SIGKILLs them: the next iteration, a checkpoint of
  a ViT-B run (weights, teacher and AdamW moments: about 1.4 GB) on a slow shared file system,
  and the dataloader shutdown must fit, or the run loses the checkpoint and, its workers killed,
  exits 1 and is not requeued. The default here is SHUTDOWN_TIMEOUT_S, through torchrun's
  environment default TORCH_ELASTIC_SHUTDOWN_TIMEOUT (`--shutdown-timeout`, torch >= 2.12,
  pytorch/pytorch#172596); `--shutdown-timeout`, PET_SHUTDOWN_TIMEOUT or the variable set by
  the caller win. torch <= 2.11 has a fixed 30 s, which `lengthen_signal_shutdown` raises to
  the same value. Either way only the signal path waits longer: a worker that has written its
  checkpoint exits at once, and torchrun's stop after a failed worker keeps its 30 s.
- One attempt name for every node. Before it starts the workers, each agent exports
  $MIMCO_ELASTIC_ATTEMPT: the c10d rendezvous round, which all nodes of an attempt share, or the
  static rendezvous's restart count (`agree_attempt_names`). The workers' fix for the keys a
  failed attempt left in torchrun's store (mimco_mm/compat/elastic_restart_store.py) names its
  key prefix after it; each agent's own TORCHELASTIC_RESTART_COUNT differs between nodes after
  one node's failure (an agent that restarts for another node's sake does not count).
- The launch time, $MIMCO_LAUNCHED_AT: a restarted worker resumes only from a checkpoint
  written since (mimco_mm/engine/elastic_restart.py).

Usage: the arguments of `python -m torch.distributed.run`.
"""
import os
import sys
import tempfile
import time

PREEMPTED_EXIT_CODE = 75  # these two as in mimco_mm/engine/preemption.py (the launcher imports
PREEMPTED_MARK_ENV = 'MIMCO_PREEMPTED_MARK'  # no OpenMMLab), and this one as in
AGREED_ATTEMPT_ENV = 'MIMCO_ELASTIC_ATTEMPT'  # mimco_mm/compat/elastic_restart_store.py, and
LAUNCHED_AT_ENV = 'MIMCO_LAUNCHED_AT'  # this one as in mimco_mm/engine/elastic_restart.py
HANDLED = 'SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1'  # torchrun's four, and Slurm's warning
# below the 300 s of warning tools/slurm_train.sh asks Slurm for, with a minute to spare for the
# launcher's exit and a requeue
SHUTDOWN_TIMEOUT_S = 240


def local_elastic_agent():
    """torchrun's agent class, whose methods the wraps below replace."""
    from torch.distributed.elastic.agent.server.local_elastic_agent import LocalElasticAgent
    return LocalElasticAgent


def apply_defaults():
    """Set torchrun's environment defaults for the signals it passes on and the time it gives
    the workers after one, unless the caller set them."""
    os.environ.setdefault('PET_SIGNALS_TO_HANDLE', HANDLED)
    os.environ.setdefault('TORCH_ELASTIC_SHUTDOWN_TIMEOUT', str(SHUTDOWN_TIMEOUT_S))


def handle_sigusr1():
    """On a torchrun without `--signals-to-handle`: treat SIGUSR1 as torchrun treats SIGTERM.
    Its handler raises SignalException in the agent, whose run() then stops the workers with
    that same signal (`_shutdown(e.sigval)`: PContext.close sends it, waits, then SIGKILLs).
    The workers do not inherit the handler (they are started with exec). Returns whether it
    installed the handler (False where torchrun passes SIGUSR1 on itself)."""
    import signal

    from torch.distributed.elastic.multiprocessing import api
    from torch.distributed.launcher.api import LaunchConfig
    if 'signals_to_handle' in LaunchConfig.__dataclass_fields__:
        return False
    signal.signal(signal.SIGUSR1, api._terminate_process_handler)
    return True


def shutdown_timeout():
    """The seconds the workers get after a signal: TORCH_ELASTIC_SHUTDOWN_TIMEOUT (set by
    apply_defaults unless the caller did)."""
    return int(os.environ.get('TORCH_ELASTIC_SHUTDOWN_TIMEOUT', SHUTDOWN_TIMEOUT_S))


def lengthen_signal_shutdown(agent_class=None):
    """On a torchrun without `--shutdown-timeout` (torch <= 2.11): wrap `agent_class._shutdown`
    (LocalElasticAgent's) so that the stop after a signal waits `shutdown_timeout()` seconds for
    the workers instead of PContext.close's 30. That path alone passes the signal
    (`self._shutdown(e.sigval)` in SimpleElasticAgent.run); the stop after a failed worker and
    the final clean-up call it without one and are left as they are. Returns whether it wrapped."""
    import inspect
    agent_class = agent_class or local_elastic_agent()
    original = agent_class._shutdown
    if 'timeout' in inspect.signature(original).parameters:
        return False  # torch >= 2.12: TORCH_ELASTIC_SHUTDOWN_TIMEOUT reaches it

    def _shutdown(self, *args, **kwargs):
        pcontext = getattr(self, '_pcontext', None)
        if not (args or 'death_sig' in kwargs) or pcontext is None:
            return original(self, *args, **kwargs)
        close = pcontext.close

        def close_with_time(death_sig=None, timeout=30):
            return close(death_sig, timeout=max(timeout, shutdown_timeout()))
        pcontext.close = close_with_time  # this call only: the instance attribute is removed
        try:
            return original(self, *args, **kwargs)
        finally:
            del pcontext.close
    _shutdown.__wrapped__ = original
    agent_class._shutdown = _shutdown
    return True


def attempt_of(agent, worker_group):
    """The name of the attempt `agent` is about to start: 'round_N' from a c10d (dynamic)
    rendezvous, whose round number every node of the attempt shares, else 'restart_N' from the
    agent's restart count (the static rendezvous has one round, and every node fails with it)."""
    state = getattr(getattr(worker_group.spec.rdzv_handler, '_state_holder', None), 'state', None)
    if isinstance(getattr(state, 'round', None), int):
        return f'round_{state.round}'
    return f'restart_{worker_group.spec.max_restarts - agent._remaining_restarts}'


def agree_attempt_names(agent_class=None):
    """Wrap `agent_class._start_workers` (LocalElasticAgent's) to export AGREED_ATTEMPT_ENV,
    `attempt_of` the attempt it starts, to the workers it starts (they inherit the agent's
    environment), and to empty the preemption mark of the attempt before."""
    agent_class = agent_class or local_elastic_agent()
    original = agent_class._start_workers
    if getattr(original, '_mimco_attempt_name', False):
        return

    def _start_workers(self, worker_group, *args, **kwargs):
        os.environ[AGREED_ATTEMPT_ENV] = attempt_of(self, worker_group)
        # only the attempt that ends the launch tells main() about a preemption: workers that an
        # earlier attempt's stop (SIGTERM, a restart or a membership change) made write their
        # checkpoint and mark it were not preempted, and a later failure must not exit 75
        mark = os.environ.get(PREEMPTED_MARK_ENV)
        if mark and os.path.isfile(mark):
            open(mark, 'w').close()
        return original(self, worker_group, *args, **kwargs)
    _start_workers._mimco_attempt_name = True
    _start_workers.__wrapped__ = original
    agent_class._start_workers = _start_workers


def main(argv=None):
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun
    apply_defaults()
    handle_sigusr1()
    lengthen_signal_shutdown()
    agree_attempt_names()
    # when this launch began: a restarted worker resumes only from checkpoints written since
    os.environ[LAUNCHED_AT_ENV] = repr(time.time())
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
