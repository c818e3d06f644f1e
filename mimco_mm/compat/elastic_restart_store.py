"""Workers restarted by torchrun (`--max-restarts`) must not read the keys of the attempt before.

torchrun's default rendezvous (static, `--master_addr/--master_port`) creates its TCPStore once
and hands the same one to every attempt. Each worker's `init_process_group` reaches that store
through env:// (`TORCHELASTIC_USE_AGENT_STORE=True`) and publishes its connection details there
under the same key names in every attempt. After a restart, rank 0 can therefore read rank 1's
address from the failed attempt before rank 1 has published its new one, and connect to a port
nobody listens on any more. Gloo's "connectFullMesh failed ... Connection refused" follows (NCCL
reads a stale unique id the same way, pytorch/pytorch#135712 for the c10d rendezvous), and the
restart that was meant to recover the run ends it. Measured 2026-11-30 with 2 gloo processes and
one restart: 2 of 4 restarts failed like this, and all of them when the restarted rank 1 started
3 s late.

Fix: torch's env:// rendezvous handler, wrapped so that on a restart (TORCHELASTIC_RESTART_COUNT
> 0, through the agent's store) the store it returns is prefixed with the attempt number. Every
key of a restarted attempt is then new, and a reader waits for it as on a first start. A first
attempt, and any rendezvous other than torchrun's agent store, gets the store unchanged.
"""
import os

RESTART_COUNT_ENV = 'TORCHELASTIC_RESTART_COUNT'  # set by torchrun's agent for its workers


def attempt_prefix(environ=None):
    """The key prefix of this attempt ('/mimco/attempt_N'), None on a first attempt or outside
    torchrun's agent store."""
    environ = os.environ if environ is None else environ
    attempt = int(environ.get(RESTART_COUNT_ENV) or 0)
    if attempt == 0 or environ.get('TORCHELASTIC_USE_AGENT_STORE') != str(True):
        return None
    return f'/mimco/attempt_{attempt}'


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
