"""tools/slurm_train.sh under stand-in `srun` / `scontrol`: it asks Slurm for the warning
signal, requeues a run that exited with the preemption code, and resumes a requeued job."""
import os
import os.path as osp
import stat
import subprocess

from mimco_mm.engine import PREEMPTED_EXIT_CODE
from tools._common import ROOT


def _stub(folder, name, body):
    path = osp.join(folder, name)
    with open(path, 'w') as f:
        f.write('#!/usr/bin/env bash\n' + body)
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)


def _run(tmp_path, srun_exit, preflight_exit=0, **env):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / 'calls.txt'
    _stub(str(bin_dir), 'srun', f'echo "srun $*" >> {calls}\n'
          f'case "$*" in *check_dist.py*) exit {preflight_exit};; esac\nexit {srun_exit}\n')
    _stub(str(bin_dir), 'scontrol', f'echo "scontrol $*" >> {calls}\n')
    full_env = dict(os.environ, PATH=f'{bin_dir}:{os.environ["PATH"]}', **env)
    result = subprocess.run(['bash', osp.join(ROOT, 'tools/slurm_train.sh'), 'gpu', 'job',
                             'configs/mimco/vit-s_100e.py', '--amp'], env=full_env,
                            capture_output=True, text=True, timeout=60)
    return result.returncode, calls.read_text().splitlines()


def test_preempted_run_is_requeued(tmp_path):
    code, calls = _run(tmp_path, PREEMPTED_EXIT_CODE, SLURM_JOB_ID='4242')
    assert code == PREEMPTED_EXIT_CODE
    # the preflight first, on the same tasks, then training
    assert 'check_dist.py --launcher slurm --config configs/mimco/vit-s_100e.py' in calls[0]
    assert '--ntasks=8' in calls[0] and '--signal' not in calls[0]
    assert '--signal=USR1@300' in calls[1] and '--launcher slurm --amp' in calls[1]
    assert '--resume' not in calls[1]  # a first start
    assert calls[2] == 'scontrol requeue 4242'


def test_failed_run_is_not_requeued_and_a_requeued_job_resumes(tmp_path):
    code, calls = _run(tmp_path, 1, SLURM_JOB_ID='4242', SLURM_RESTART_COUNT='1')
    assert code == 1 and len(calls) == 2  # an error is not a preemption: no requeue
    assert 'check_dist.py' in calls[0]  # a requeued job may land on other nodes: checked again
    assert '--launcher slurm --resume --amp' in calls[1]


def test_the_preflight_checks_the_runs_own_work_dir(tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    _stub(str(bin_dir), 'srun', f'echo "srun $*" >> {tmp_path / "calls.txt"}\n')
    subprocess.run(['bash', osp.join(ROOT, 'tools/slurm_train.sh'), 'gpu', 'job',
                    'configs/mimco/vit-s_100e.py', '--work-dir', '/shared/run1', '--amp'],
                   env=dict(os.environ, PATH=f'{bin_dir}:{os.environ["PATH"]}'), check=True,
                   timeout=60)
    preflight, train = (tmp_path / 'calls.txt').read_text().splitlines()
    assert preflight.endswith('--timeout 300 --work-dir /shared/run1')
    assert train.endswith('--launcher slurm --work-dir /shared/run1 --amp')


def test_a_failed_preflight_stops_before_training(tmp_path):
    code, calls = _run(tmp_path, 0, preflight_exit=1, SLURM_JOB_ID='4242')
    assert code == 1 and len(calls) == 1 and 'check_dist.py' in calls[0]
    (tmp_path / 'off').mkdir()
    code, calls = _run(tmp_path / 'off', 0, preflight_exit=1, PREFLIGHT='0')
    assert code == 0 and len(calls) == 1 and 'train.py' in calls[0]
