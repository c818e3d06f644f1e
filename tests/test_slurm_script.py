"""tools/slurm_train.sh under stand-in `srun` / `scontrol`: it asks Slurm for the warning
signal, requeues a run that exited with the preemption code, resumes a requeued job, and with
MAX_RESTARTS restarts a failed step that made progress."""
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


def _run_attempts(tmp_path, attempts, *train_args, given_work_dir=True, **env):
    """slurm_train.sh whose training steps behave as `attempts` says, one word per step:
    'STATUS' exits with it, 'ckpt:STATUS' first writes a checkpoint into the work dir (as a
    training step that got somewhere does). The work dir is given (--work-dir), or with
    `given_work_dir=False` the config's default under the current directory. Returns (status,
    training steps' srun calls, stderr)."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    calls, count = tmp_path / 'calls.txt', tmp_path / 'count'
    count.write_text('0')
    work_dir = tmp_path / ('work' if given_work_dir else 'work_dirs/mimco/vit-s_100e')
    _stub(str(bin_dir), 'srun', f"""echo "srun $*" >> {calls}
case "$*" in *check_dist.py*) exit 0;; esac
n=$(cat {count}); echo $((n + 1)) > {count}
attempts=({' '.join(attempts)})
step=${{attempts[n]}}
case "$step" in ckpt:*) sleep 1.1; touch {work_dir}/iter_$((n + 1)).pth; step=${{step#ckpt:}};; esac
exit "$step"
""")
    _stub(str(bin_dir), 'scontrol', f'echo "scontrol $*" >> {calls}\n')
    full_env = dict(os.environ, PATH=f'{bin_dir}:{os.environ["PATH"]}', **env)
    where = ['--work-dir', str(work_dir)] if given_work_dir else []
    result = subprocess.run(['bash', osp.join(ROOT, 'tools/slurm_train.sh'), 'gpu', 'job',
                             osp.join(ROOT, 'configs/mimco/vit-s_100e.py'), *where, *train_args],
                            cwd=tmp_path, env=full_env, capture_output=True, text=True,
                            timeout=120)
    lines = calls.read_text().splitlines() if calls.exists() else []
    trains = [c for c in lines if 'train.py' in c]
    return result.returncode, trains, result.stderr


def test_a_failed_step_that_made_progress_is_restarted_with_resume(tmp_path):
    # a NCCL abort (134) after a checkpoint, then a hang ended by --hang-exit (1) after another:
    # both restarted from the newest checkpoint, the user's --resume CKPT not repeated
    code, trains, err = _run_attempts(tmp_path, ['ckpt:134', 'ckpt:1', '0'], '--resume',
                                      'first.pth', '--amp', MAX_RESTARTS='2')
    assert code == 0 and len(trains) == 3, err
    assert trains[0].endswith(f'--work-dir {tmp_path}/work --resume first.pth --amp --hang-exit')
    for restarted in trains[1:]:
        assert restarted.endswith(f'--launcher slurm --resume --work-dir {tmp_path}/work --amp '
                                  f'--hang-exit')
    assert 'failed (status 134) after writing iter_1.pth: restart 1 of 2' in err
    assert 'failed (status 1) after writing iter_2.pth: restart 2 of 2' in err


def test_restarts_find_the_configs_default_work_dir(tmp_path):
    code, trains, err = _run_attempts(tmp_path, ['ckpt:134', '0'], given_work_dir=False,
                                      MAX_RESTARTS='1')
    assert code == 0 and len(trains) == 2, err
    assert 'failed (status 134) after writing iter_1.pth: restart 1 of 1' in err
    assert (tmp_path / 'work_dirs/mimco/vit-s_100e/.slurm_attempt_start').is_file()


def test_a_failure_before_any_checkpoint_or_past_the_restarts_stops(tmp_path):
    (tmp_path / 'a').mkdir()
    # the checkpoint of an earlier attempt is no progress of this one
    code, trains, err = _run_attempts(tmp_path / 'a', ['ckpt:134', '134', '0'],
                                      MAX_RESTARTS='5')
    assert code == 134 and len(trains) == 2
    assert 'failed (status 134) before writing any checkpoint' in err
    (tmp_path / 'b').mkdir()
    code, trains, err = _run_attempts(tmp_path / 'b', ['ckpt:134', 'ckpt:134', '0'],
                                      MAX_RESTARTS='1')
    assert code == 134 and len(trains) == 2 and 'all 1 restarts are used' in err
    (tmp_path / 'c').mkdir()  # the default: no restart (and no --hang-exit added)
    code, trains, err = _run_attempts(tmp_path / 'c', ['ckpt:134', '0'])
    assert code == 134 and len(trains) == 1 and '--hang-exit' not in trains[0]
    (tmp_path / 'd').mkdir()
    code, trains, err = _run_attempts(tmp_path / 'd', ['0'], MAX_RESTARTS='two')
    assert code == 2 and not trains and "MAX_RESTARTS must be a whole number, got 'two'" in err


def test_a_preempted_restart_is_still_requeued(tmp_path):
    code, trains, err = _run_attempts(tmp_path, ['ckpt:134', f'ckpt:{PREEMPTED_EXIT_CODE}'],
                                      MAX_RESTARTS='3', SLURM_JOB_ID='77')
    assert code == PREEMPTED_EXIT_CODE and len(trains) == 2
    assert 'scontrol requeue 77' in (tmp_path / 'calls.txt').read_text()


def test_a_requeued_job_takes_the_newest_checkpoint_not_the_first_starts_file(tmp_path):
    for args in (['--resume', 'first.pth'], ['--resume=first.pth'], ['--resume']):
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        code, trains, _ = _run_attempts(folder, ['0'], *args, '--amp', SLURM_RESTART_COUNT='2')
        assert code == 0 and trains[0].endswith(
            f'--launcher slurm --resume --work-dir {folder}/work --amp'), trains


def test_print_work_dir_names_where_the_run_writes(capsys):
    from tools import train
    assert train.main(['configs/mimco/vit-s_100e.py', '--print-work-dir']) is None
    assert capsys.readouterr().out.strip() == 'work_dirs/mimco/vit-s_100e'
    train.main(['configs/mimco/vit-s_100e.py', '--cfg-options', 'work_dir=/x/y',
                '--print-work-dir'])
    assert capsys.readouterr().out.strip() == '/x/y'
