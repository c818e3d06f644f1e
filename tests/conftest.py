"""Shared tiny models: a ViT small enough for CPU tests, and a stage-1 teacher checkpoint made here."""
import os
import os.path as osp
import sys

if os.environ.get('PYTEST_XDIST_WORKER'):
    # `make test` runs one pytest worker per core: each computes on one thread (and so do the
    # processes its tests start), or the workers' thread pools fight over the cores
    os.environ.setdefault('OMP_NUM_THREADS', '1')

import pytest  # noqa: E402
import torch  # noqa: E402

if os.environ.get('PYTEST_XDIST_WORKER'):
    torch.set_num_threads(1)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)  # `tools` for the tool tests

import mimco_mm  # noqa: F401  registers the modules and applies the compat fixes

TINY_ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
IMG, PATCH = 32, 8  # 4 x 4 = 16 patches


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Each test starts in mmpretrain's scope: a det / seg test switches the process-wide default
    scope, and registries resolve through it."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')


def tiny_vit(type_='MoCoV3ViT', **kwargs):
    cfg = dict(type=type_, arch=TINY_ARCH, img_size=IMG, patch_size=PATCH)
    cfg.update(kwargs)
    return cfg


def tiny_projector(in_channels=32, out_channels=16):
    return dict(type='NonLinearNeck', in_channels=in_channels, hid_channels=24,
                out_channels=out_channels, num_layers=3, with_bias=False, with_last_bn=True,
                with_last_bn_affine=False, with_last_bias=False, with_avg_pool=False)


@pytest.fixture(scope='session')
def teacher_checkpoint(tmp_path_factory):
    """A stage-1 checkpoint in mmpretrain's MoCo v3 layout: `backbone.*` and `neck.*`, random
    weights (tests check that these exact weights arrive, not what they learned)."""
    from mmpretrain.registry import MODELS
    torch.manual_seed(0)
    backbone = MODELS.build(tiny_vit(out_type='raw'))
    backbone.init_weights()
    neck = MODELS.build(tiny_projector())
    neck.init_weights()
    with torch.no_grad():  # non-trivial BN statistics, so eval vs train mode differ
        for m in neck.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    state = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    state.update({f'neck.{k}': v for k, v in neck.state_dict().items()})
    path = tmp_path_factory.mktemp('teacher') / 'mocov3_tiny.pth'
    from mimco_mm.architecture import describe
    torch.save(dict(state_dict=state, meta=dict(note='made by tests',
                                                architecture={'backbone': describe(backbone)})),
               path)
    return str(path)


def tiny_mimco(teacher_checkpoint, **head_overrides):
    head = dict(
        type='MimCoHead',
        patch_proj=dict(type='MLPProjector', in_channels=32, out_channels=32, hid_channels=48),
        patch_loss=dict(type='PatchInfoNCE', temperature=0.2),
        img_proj=dict(type='MLPProjector', in_channels=32, out_channels=16, hid_channels=48,
                      norm='BN'),
        img_loss=dict(type='ImageInfoNCE', temperature=0.2))
    head.update(head_overrides)
    return dict(
        type='MimCo',
        backbone=tiny_vit('MimCoViT', out_type='raw'),
        teacher=dict(type='ContrastiveTeacher', backbone=tiny_vit(out_type='raw'),
                     neck=tiny_projector(), checkpoint=teacher_checkpoint,
                     global_target='projector'),
        head=head)


def masked_batch(batch=4, ratio=0.5, seed=0):
    """(B, 3, IMG, IMG) normalised-looking images and DataSamples holding a random patch mask
    of `ratio` (the input of MimCo's loss)."""
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, 3, IMG, IMG, generator=g)
    samples = []
    side = IMG // PATCH
    for _ in range(batch):
        mask = torch.zeros(side * side)
        mask[torch.randperm(side * side, generator=g)[:int(ratio * side * side)]] = 1
        samples.append(DataSample().set_mask(mask.reshape(side, side)))
    return images, samples


def make_image_folder(root, classes=2, per_class=16, size=40, seed=0, splits=('train', )):
    """root/<split>/class_<c>/<i>.png: noise around a class colour (enough for the data path)."""
    import os

    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(seed)
    for split in splits:
        for c in range(classes):
            folder = osp.join(root, split, f'class_{c}')
            os.makedirs(folder, exist_ok=True)
            colour = np.array([40 + 170 * (c % 2), 40 + 170 * (c // 2 % 2), 120])
            for i in range(per_class):
                img = np.clip(colour + rng.normal(0, 60, (size, size, 3)), 0, 255)
                Image.fromarray(img.astype(np.uint8)).save(osp.join(folder, f'{i}.png'))
    return root


def shell(tool, *args, env=None, timeout=600):
    """`python TOOL ARGS` (`bash TOOL ARGS` for a .sh) from the repository root in a fresh
    process, as a user runs it (one thread): the CompletedProcess, output captured."""
    import subprocess
    cmd = ['bash', tool] if tool.endswith('.sh') else [sys.executable, tool]
    return subprocess.run([*cmd, *map(str, args)], cwd=ROOT,
                          env={**os.environ, 'OMP_NUM_THREADS': '1', **(env or {})},
                          capture_output=True, text=True, timeout=timeout)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now (for a process group's rendezvous)."""
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


FAST_LOADING = ['train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
                'default_hooks.logger.interval=1']


_RUNS = 0


def monitor_off(config):
    """--cfg-options that switch off a config's KNNMonitorHook (on in the CPU stage-2 configs;
    it needs a val/ split and k = 20 bank images, which most test folders lack)."""
    from tools._common import ROOT, load_config
    hooks = load_config(osp.join(ROOT, config)).get('custom_hooks', [])
    return [f'custom_hooks.{i}.interval=-1' for i, hook in enumerate(hooks)
            if hook['type'] == 'KNNMonitorHook']


def run_train(config, work_dir, *options, resume=False, knn_monitor=False):
    """tools/train.py in-process; returns the Runner after training. `resume`: True (the work
    dir's last checkpoint) or a checkpoint path. The CPU configs' KNNMonitorHook (it needs a
    val/ split and 20 bank images) is off unless `knn_monitor`."""
    from tools import train as train_tool
    from tools._common import ROOT, load_config
    if not knn_monitor:
        options += tuple(monitor_off(config))
    # a unique experiment name: MMEngine caches its logger and visualizer by name (the start
    # time to the second), so two runs started in one second would log into the first's folder;
    # mmdet's and mmseg's configs name their visualizer 'visualizer' outright, so every run of
    # theirs after the first would log its scalars into the first run's folder
    global _RUNS
    _RUNS += 1
    name = f'run{_RUNS}_{osp.basename(str(work_dir))}'
    argv = [osp.join(ROOT, config), '--work-dir', str(work_dir), '--cfg-options', *FAST_LOADING,
            f'experiment_name={name}', *options]
    if 'name' in load_config(osp.join(ROOT, config)).get('visualizer', {}):
        argv.append(f'visualizer.name={name}')
    if resume:  # True: the work dir's last checkpoint; a path: that checkpoint
        argv[1:1] = ['--resume'] + ([str(resume)] if resume is not True else [])
    return train_tool.main(argv)


@pytest.fixture(scope='session')
def pretrain_chain(tmp_path_factory):
    """The real two-stage chain on the CPU variants, one epoch each, through tools/train.py:
    stage 1 (MoCo v3) writes the teacher, stage 2 (MimCo) learns from it. Built once per test
    run: under xdist the first worker to need it trains it into the run's shared temporary
    folder while the others wait, then every worker reads the same files (tests write their
    own runs elsewhere)."""
    from filelock import FileLock
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get('PYTEST_XDIST_WORKER') else base
    root = shared / 'pretrain_chain'
    chain = dict(root=root, data=str(root / 'data'), teacher=str(root / 'mocov3' / 'epoch_1.pth'),
                 stage2=str(root / 'mimco' / 'epoch_1.pth'))
    with FileLock(str(shared / 'pretrain_chain.lock')):
        if (root / 'complete').is_file():
            return chain
        root.mkdir(exist_ok=True)
        make_image_folder(chain['data'], classes=2, per_class=8)
        common = [f'train_dataloader.dataset.data_root={chain["data"]}',
                  'train_dataloader.batch_size=8', 'train_cfg.max_epochs=1']
        run_train('configs/mocov3/vit-tiny_cpu.py', root / 'mocov3', *common)
        run_train('configs/mimco/vit-tiny_cpu.py', root / 'mimco', *common,
                  f'model.teacher.checkpoint={chain["teacher"]}')
        (root / 'complete').touch()
    return chain
