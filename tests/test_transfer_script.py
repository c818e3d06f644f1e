"""tools/transfer.sh (tools/transfer.py) runs the downstream jobs of one checkpoint into work_dirs/<name>/<task>/."""
import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import make_image_folder
from tools._common import ROOT


def transfer(checkpoint, env):
    return subprocess.run(['bash', 'tools/transfer.sh', checkpoint, '1'], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_transfer_script_writes_one_metrics_file_per_task(pretrain_chain, tmp_path, monkeypatch):
    data = make_image_folder(str(tmp_path / 'data'), classes=3, per_class=4, size=36,
                             splits=('train', 'val'))
    both = f'test_dataloader.dataset.data_root={data}'
    linear = ' '.join([f'train_dataloader.dataset.data_root={data}',
                       f'val_dataloader.dataset.data_root={data}', 'model.head.num_classes=3',
                       'data_preprocessor.num_classes=3', 'train_cfg.max_epochs=1',
                       'train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=1'])
    env = dict(os.environ, PYTHON=sys.executable, TASKS='knn linear',  # ARCH from the file
               NAME='chain', WORK_ROOT=str(tmp_path / 'work_dirs'), CFG_OPTIONS=both,
               CFG_OPTIONS_knn=f'knn_bank_dataloader.dataset.data_root={data}',
               CFG_OPTIONS_linear=linear,
               PORT='29533', OMP_NUM_THREADS='1')
    result = transfer(pretrain_chain['stage2'], env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'architecture recorded in the checkpoint: vit-tiny' in result.stdout
    knn = json.loads((tmp_path / 'work_dirs/chain/knn/metrics.json').read_text())
    linear = json.loads((tmp_path / 'work_dirs/chain/linear/metrics.json').read_text())
    assert knn['checkpoint'] == pretrain_chain['stage2'] and 'knn/top1_k10' in knn['metrics']
    assert 0 <= linear['metrics']['accuracy/top1'] <= 100

    # provenance: every metrics file says what produced it, and how its weights were trained
    required = {'git_commit', 'git_dirty', 'versions', 'devices', 'batch', 'lr',
                'epochs_or_iters', 'seed', 'config_sha256', 'data', 'wall_s'}
    for record in (knn, linear):
        assert required <= set(record['provenance']), set(record['provenance'])
        assert set(record['provenance']['versions']) >= {
            'python', 'torch', 'cuda', 'mmengine', 'mmcv', 'mmpretrain', 'mmdet', 'mmseg',
            'timm', 'mimco_mm'}
    assert knn['provenance']['data']['num_samples'] == 12 + 12  # bank (train) + queries (val)
    stage2 = knn['provenance']['checkpoint']  # how the evaluated stage-2 weights were trained
    assert stage2['batch']['per_device'] == 8 and stage2['data']['num_samples'] == 16
    trained = linear['provenance']['checkpoint']  # the linear probe's own training run
    assert trained['epochs_or_iters']['max_epochs'] == 1 and trained['batch']['effective'] > 0
    assert trained['lr']['after_scaling'] == trained['lr']['configured']  # no auto-scaling
    assert trained['data']['num_samples'] == 12 and len(trained['data']['sha256']) == 64

    from tools import benchmark
    benchmark.main(['--root', str(tmp_path / 'work_dirs'), '--no-published', '--details'])
    import csv
    with open(tmp_path / 'work_dirs' / 'results_details.csv') as f:
        rows = {row['task']: row for row in csv.DictReader(f)}
    assert set(rows) == {'knn', 'linear'}
    assert rows['linear']['trained_max_epochs'] == '1' and rows['knn']['git_commit']
    assert rows['knn']['metric:knn/top1_k10'] == str(knn['metrics']['knn/top1_k10'])

    # a rerun continues where the last run stopped: a finished task is skipped, untouched, and
    # a training stopped before its test resumes from its last checkpoint, then is tested
    work = tmp_path / 'work_dirs' / 'chain'
    knn_written = (work / 'knn' / 'metrics.json').stat().st_mtime_ns
    (work / 'linear' / 'metrics.json').unlink()
    result = transfer(pretrain_chain['stage2'], env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert '=== [knn] done before' in result.stdout
    assert (work / 'knn' / 'metrics.json').stat().st_mtime_ns == knn_written
    assert '=== [linear] resuming the interrupted training' in result.stdout
    assert json.loads((work / 'linear' / 'metrics.json').read_text())['metrics'] == \
        linear['metrics']
    # ... and the folders of another pre-training checkpoint are refused before any job starts,
    # nothing touched (tools/transfer.py's check, in this process: the script ran above)
    from tools import transfer as transfer_tool
    other = tmp_path / 'other.pth'
    other.write_bytes(open(pretrain_chain['stage2'], 'rb').read() + b'\0')
    before = sorted((p, p.stat().st_mtime_ns) for p in work.rglob('*'))
    for key, value in dict(env, ARCH='vit-tiny').items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(transfer_tool.Jobs, 'run', lambda *a: pytest.fail('a job started'))
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)}
    try:
        with pytest.raises(SystemExit, match='holds a run from another pre-training checkpoint'):
            transfer_tool.main([str(other), '1'])
    finally:  # the script's own handlers (it passes signals on to its jobs) leave with it
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert sorted((p, p.stat().st_mtime_ns) for p in work.rglob('*')) == before


def test_a_signal_to_the_script_alone_preempts_the_running_training(pretrain_chain, tmp_path):
    """`sbatch --signal=B:USR1@300` signals the batch shell only. transfer.sh passes the signal
    on to the running training, which writes its checkpoint; the script then exits 75 (a
    requeue's status). Before, bash died of SIGUSR1 at once (status 138), and the training went
    on without it, unaware of the preemption."""
    data = make_image_folder(str(tmp_path / 'data'), classes=3, per_class=4, size=36,
                             splits=('train', 'val'))
    epochs = 400  # 1 iteration each: long enough for the signal to find it training
    linear = ' '.join([f'train_dataloader.dataset.data_root={data}',
                       f'val_dataloader.dataset.data_root={data}', 'model.head.num_classes=3',
                       'data_preprocessor.num_classes=3', f'train_cfg.max_epochs={epochs}',
                       f'train_cfg.val_interval={epochs}', f'param_scheduler.0.end={epochs}',
                       f'param_scheduler.0.T_max={epochs}', 'default_hooks.logger.interval=1'])
    env = dict(os.environ, PYTHON=sys.executable, TASKS='linear', NAME='signal',
               WORK_ROOT=str(tmp_path / 'work_dirs'), CFG_OPTIONS_linear=linear,
               PORT='29534', OMP_NUM_THREADS='1')
    script = subprocess.Popen(['bash', 'tools/transfer.sh', pretrain_chain['stage2'], '1'],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in script.stdout:
        lines.append(line)
        if 'Epoch(train)' in line:
            os.kill(script.pid, signal.SIGUSR1)  # bash's pid: the script alone
            break
    out = ''.join(lines) + script.communicate(timeout=300)[0]
    assert script.returncode == 75, out[-3000:]
    assert 'transfer.sh: SIGUSR1, the running job stopped' in out
    work = tmp_path / 'work_dirs' / 'signal' / 'linear'
    saved = (work / 'last_checkpoint').read_text().strip()
    assert os.path.isfile(saved) and 'iter_' in os.path.basename(saved), saved  # the hook's
    assert not (work / 'metrics.json').exists()


def test_missing_checkpoint_is_refused(tmp_path):
    result = subprocess.run(['bash', 'tools/transfer.sh', str(tmp_path / 'none.pth'), '1'],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0 and 'does not exist' in result.stderr


def test_every_pre_training_arch_has_every_transfer_task():
    """The config sets of tools/transfer.py: ViT-S and ViT-B run fine-tune, linear, k-NN, COCO
    and ADE20K, Swin-T COCO 1x (single-scale and multi-scale) / 3x and ADE20K; every config named
    exists and is of that arch, and every task is either trained or a frozen-feature tool's."""
    from tools.transfer import CONFIGS, FROZEN, TRAINED
    wanted = {'vit-s': {'ft', 'ft_ibot', 'linear', 'knn', 'coco', 'coco_cascade', 'ade'},
              'vit-b': {'ft', 'linear', 'knn', 'coco', 'ade'},
              'swin-t': {'coco', 'coco1x_ms', 'coco3x', 'ade'}}
    for arch, needed in wanted.items():
        tasks = CONFIGS[arch]
        assert needed <= set(tasks), (arch, sorted(tasks))
        for task, config in tasks.items():
            assert os.path.isfile(os.path.join(ROOT, 'configs', 'benchmarks', config)), config
            assert arch in config, (task, config)
    every_task = {task for tasks in CONFIGS.values() for task in tasks}
    assert every_task <= set(TRAINED) | set(FROZEN) and 'coco_cascade' in TRAINED


def test_a_failed_job_ends_the_run_with_its_status_and_starts_no_other(tmp_path):
    """A job that fails stops the run with the job's status; the next task is not started."""
    from tools import transfer
    jobs = transfer.Jobs(handle_signals=False)
    with pytest.raises(SystemExit) as stop:
        jobs.run([sys.executable, '-c', 'import sys; sys.exit(3)'])
    assert stop.value.code == 3
    with pytest.raises(SystemExit) as stop:
        jobs.run([sys.executable, '-c', 'import os, signal; os.kill(os.getpid(), signal.SIGTERM)'])
    assert stop.value.code == 143
    jobs.pass_on(transfer.signal.SIGUSR1, transfer.signal.SIGUSR1)  # a signal with no job running
    with pytest.raises(SystemExit) as stop:
        jobs.run([sys.executable, '-c', 'open(%r, "w")' % str(tmp_path / 'started')])
    assert stop.value.code == transfer.PREEMPTED and not (tmp_path / 'started').exists()


def test_task_state_claims_a_new_folder_and_refuses_an_unknown_one(tmp_path):
    from tools.transfer import task_state
    work = str(tmp_path / 'linear')
    assert task_state(work, 'a' * 64, 'ckpt.pth') == 'new'
    assert open(os.path.join(work, 'pretrained.sha256')).read().strip() == 'a' * 64
    open(os.path.join(work, 'last_checkpoint'), 'w').close()
    assert task_state(work, 'a' * 64, 'ckpt.pth') == 'resume'
    open(os.path.join(work, 'metrics.json'), 'w').close()
    assert task_state(work, 'a' * 64, 'ckpt.pth') == 'done'
    with pytest.raises(SystemExit, match='another pre-training checkpoint'):
        task_state(work, 'b' * 64, 'other.pth')
    stray = tmp_path / 'knn'
    stray.mkdir()
    (stray / 'log.txt').write_text('x')
    with pytest.raises(SystemExit, match='no pretrained.sha256'):
        task_state(str(stray), 'a' * 64, 'ckpt.pth')
    assert sorted(os.listdir(stray)) == ['log.txt']
