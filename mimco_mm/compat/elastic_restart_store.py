"""Workers restarted by torchrun (`--max-restarts`) must not read the keys of the attempt before.

torchrun's rendezvous creates its TCPStore once and hands the same one to every attempt: the
static one (`--master_addr/--master_port`) and the c10d one alike (c10d shares the store server
its first round made with every later round). Each worker's `init_process_group` reaches that
store through env:// (`TORCHELASTIC_USE_AGENT_STORE=True`) and publishes its connection details
there under the same key names in every attempt. After a restart, rank 0 can therefore read
rank 1's address from the failed attempt before rank 1 has published its new one, and connect to
a port nobody listens on any more. Gloo's "connectFullMesh failed ... Connection refused" follows
(NCCL reads a stale unique id the same way, pytorch/pytorch#135712), and the restart that was
meant to recover the run ends it. Measured with 2 gloo processes and one restart:
2 of 4 single-node restarts failed like this, all of them when the restarted rank 1 started 3 s
late, and every two-node c10d restart.

Fix: torch's env:// rendezvous handler, wrapped so that the store of a restarted attempt is
prefixed with that attempt's name. Every key of a restarted attempt is then new, and a reader
waits for it as on a first start. The name must be the same in every worker of the attempt:
- `MIMCO_ELASTIC_ATTEMPT`, which tools/_torchrun.py's agent sets on every node: the c10d
  rendezvous round (one number for all nodes), or the static rendezvous's restart count. Each
  agent's own TORCHELASTIC_RESTART_COUNT is no such name on several nodes: an agent restarts its
  workers without counting when another node's failure brought a new round (torch's "membership
  changes do not count as retries"), and that is the usual case on GPUs, whose NCCL ranks wait
  in the collective a dead peer never joins;
- without it (plain torchrun), TORCHELASTIC_RESTART_COUNT, when one agent runs every worker
  (GROUP_WORLD_SIZE 1). With several agents and no agreed name the store stays as it is, which
  is torch's own behaviour, and the worker says so once.
A first attempt, and any rendezvous other than torchrun's agent store, gets the store unchanged.
"""
import os
import sys

RESTART_COUNT_ENV = 'TORCHELASTIC_RESTART_COUNT'  # set by torchrun's agent for its workers
AGREED_ATTEMPT_ENV = 'MIMCO_ELASTIC_ATTEMPT'  # set by tools/_torchrun.py's agent: 'round_N' ...


def attempt_name(environ=None):
    """This attempt's name, the same in every worker of the launch: MIMCO_ELASTIC_ATTEMPT, or
    'restart_N' from the restart count when one agent runs every worker; None when no agreed
    name exists (several agents under plain torchrun) or outside torchrun."""
    environ = os.environ if environ is None else environ
    if environ.get(AGREED_ATTEMPT_ENV):
        return environ[AGREED_ATTEMPT_ENV]
    if RESTART_COUNT_ENV not in environ or int(environ.get('GROUP_WORLD_SIZE') or 1) > 1:
        return None
    return f'restart_{int(environ[RESTART_COUNT_ENV])}'


def is_first_attempt(name):
    """Whether attempt `name` ('round_0', 'restart_0', ...) is a launch's first."""
    return int(name.rsplit('_', 1)[1]) == 0


def attempt_prefix(environ=None):
    """The key prefix of this attempt ('/mimco/round_N', '/mimco/restart_N'), None on a first
    attempt, outside torchrun's agent store, or where the workers share no attempt name."""
    environ = os.environ if environ is None else environ
    if environ.get('TORCHELASTIC_USE_AGENT_STORE') != str(True):
        return None
    name = attempt_name(environ)
    if name is None:
        if int(environ.get(RESTART_COUNT_ENV) or 0) > 0:
            print(f'[mimco_mm] torchrun restart on {environ.get("GROUP_WORLD_SIZE")} nodes '
                  f'without tools/_torchrun.py: the workers share no attempt name, so they may '
                  f'read the failed attempt\'s keys from torchrun\'s store (pytorch/pytorch'
                  f'#135712); launch with tools/dist_launch.sh or tools/_torchrun.py',
                  file=sys.stderr, flush=True)
        return None
    return None if is_first_attempt(name) else f'/mimco/{name}'


def wrap_env_handler(original):
    """torch's env:// rendezvous handler (a generator of (store, rank, world_size)), with the
    store of a restarted attempt under that attempt's prefix."""
    from torch.distributed import PrefixStore

    def _env_rendezvous_handler(url, *args, **kwargs):
        for store, rank, world_size in original(url, *args, **kwargs):
            prefix = attempt_prefix()
            yield (store if prefix is None else PrefixStore(prefix, store)), rank, world_size

    _env_rendezvous_handler._mimco_attempt_prefix = True
    _env_rendezvous_handler.__wrapped__ = original
    return _env_rendezvous_handler


def install():
    from torch.distributed import is_available
    if not is_available():
        return
    import importlib
    # the module (torch.distributed's attribute of that name is its function `rendezvous`)
    handlers = importlib.import_module('torch.distributed.rendezvous')._rendezvous_handlers
    if 'env' in handlers and not getattr(handlers['env'], '_mimco_attempt_prefix', False):
        handlers['env'] = wrap_env_handler(handlers['env'])
