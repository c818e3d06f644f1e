"""tools._common.run_process: how a tool's process ends (tools/train.py, test.py, knn.py, ...).

A process that used torch.distributed must not run Python's interpreter teardown, during which
gloo's worker threads can abort the process (SIGABRT after a finished run; see run_process). These
tests run a one-process gloo group and check what the exit does and does not do, by the files
its atexit handler, a late thread and a teardown-time destructor write."""
import os.path as osp
import subprocess
import sys

import pytest

from tools._common import ROOT

SCRIPT = r'''
import atexit, sys, threading, time
sys.path.insert(0, {root!r})
import torch.distributed as dist
from tools._common import close_process_group, run_process

out, mode = sys.argv[1], sys.argv[2]

def mark(name):
    with open(f'{{out}}/{{name}}', 'w') as f:
        f.write(name)

class Teardown:
    def __del__(self, open=open, path=f'{{out}}/teardown'):
        # runs only while the interpreter tears its modules down (globals may be gone by then)
        with open(path, 'w') as f:
            f.write('teardown')

def late_thread():
    time.sleep(0.5)
    mark('thread')

def main():
    if not mode.startswith('no_group'):
        dist.init_process_group('gloo', init_method=f'file://{{out}}/store', rank=0, world_size=1)
    atexit.register(mark, 'atexit')
    threading.Thread(target=late_thread).start()  # not a daemon: an exit waits for it
    print('unflushed output', end='')
    if mode == 'preempted':
        from mimco_mm.engine.preemption import RunPreempted
        raise RunPreempted(75)
    if mode in ('error', 'no_group_error'):
        raise ValueError('the planned error')
    if mode == 'message':
        sys.exit('a message instead of a code')
    if mode == 'status':
        return 3
    close_process_group()
    return object()  # a tool's result (a Runner, metrics): status 0

teardown = Teardown()
run_process(main)
'''


MODES = ('finished', 'preempted', 'status', 'error', 'message', 'no_group', 'no_group_error')


@pytest.fixture(scope='module')
def exits(tmp_path_factory):
    """mode -> (CompletedProcess-like result, the files its exit wrote); the processes run side
    by side (each imports torch and mmengine: seconds)."""
    procs = {}
    for mode in MODES:
        folder = tmp_path_factory.mktemp(mode)
        script = folder / 'tool.py'
        script.write_text(SCRIPT.format(root=ROOT))
        procs[mode] = folder, subprocess.Popen(
            [sys.executable, str(script), str(folder), mode], cwd=ROOT, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    results = {}
    for mode, (folder, proc) in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        results[mode] = result, {name for name in ('atexit', 'thread', 'teardown')
                                 if osp.isfile(folder / name)}
    return results


@pytest.mark.parametrize('mode,code', [('finished', 0), ('preempted', 75), ('status', 3),
                                       ('error', 1), ('message', 1)])
def test_after_a_process_group_the_exit_skips_only_the_interpreter_teardown(exits, mode, code):
    result, written = exits[mode]
    assert result.returncode == code, result.stderr[-3000:]
    # a normal exit's work is done: the thread joined, atexit handlers run, output flushed ...
    assert written == {'atexit', 'thread'}, result.stderr[-3000:]
    assert result.stdout.startswith('unflushed output')
    # ... but not the teardown, where gloo's threads can abort the process
    if mode == 'error':
        assert 'ValueError: the planned error' in result.stderr
    if mode == 'message':
        assert 'a message instead of a code' in result.stderr


@pytest.mark.parametrize('mode,code', [('no_group', 0), ('no_group_error', 1)])
def test_without_a_process_group_the_exit_is_python_s_own(exits, mode, code):
    result, written = exits[mode]
    assert result.returncode == code, result.stderr[-3000:]
    assert {'atexit', 'thread'} <= written
    if code:  # Python's own traceback (the teardown may leave the traceback's objects alone)
        assert result.stderr.rstrip().endswith('ValueError: the planned error')
    else:  # the teardown ran: its absence above is the exit's doing, not the marker's
        assert 'teardown' in written
