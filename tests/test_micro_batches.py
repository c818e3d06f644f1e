"""MimCo(micro_batches=M): one process with a batch of M x b trains exactly as M processes with b
each (the image loss's negatives and the BatchNorm groups included); gradient accumulation,
which would shrink the negatives, is refused."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

from conftest import make_image_folder, masked_batch, monitor_off, tiny_mimco
from mimco_mm.benchmark.plots import read_scalars
from mimco_mm.compat import load_checkpoint_file
from tools import train as train_tool
from tools._common import ROOT, load_config
from tools.speed.benchmark_step import random_teacher_checkpoint

CONFIG = 'configs/mimco/vit-tiny_cpu.py'


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('micro')
    data = make_image_folder(str(root / 'data'))  # 32 images
    teacher = random_teacher_checkpoint(load_config(osp.join(ROOT, CONFIG)).model.teacher,
                                        str(root / 'teacher.pth'))
    return dict(root=root, data=data, teacher=teacher)


def options(setup, batch, *extra):
    return ['--cfg-options', f'train_dataloader.dataset.data_root={setup["data"]}',
            f'model.teacher.checkpoint={setup["teacher"]}', f'train_dataloader.batch_size={batch}',
            'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
            'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1', *monitor_off(CONFIG),
            *extra]


def train(setup, name, processes, batch, *extra):
    """tools/dist_train.sh (or train.py for 1 process) over the 32 images; the final weights and
    the logged img_negatives."""
    work_dir = setup['root'] / name
    env = dict(os.environ, PYTHON=sys.executable, PORT='29523', OMP_NUM_THREADS='1')
    command = (['bash', osp.join(ROOT, 'tools/dist_train.sh'), CONFIG, str(processes)]
               if processes > 1 else [sys.executable, osp.join(ROOT, 'tools/train.py'), CONFIG])
    result = subprocess.run(command + ['--work-dir', str(work_dir)] +
                            options(setup, batch, *extra), cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    state = load_checkpoint_file(str(work_dir / 'epoch_1.pth'))['state_dict']
    negatives = {r['img_negatives'] for r in read_scalars(str(work_dir)) if 'img_negatives' in r}
    return {k: v for k, v in state.items() if not k.startswith('target_generator.')}, negatives


def max_difference(a, b):
    """Over the trained weights. BatchNorm's running statistics are left out: DDP keeps rank 0's,
    micro-batches update them once per part; training (batch statistics) never reads them."""
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a
               if a[k].is_floating_point() and 'running_' not in k)


def test_one_process_with_micro_batches_trains_as_two_processes(setup):
    """4 steps: 2 processes x 4 images vs 1 process x 8 images in 2 micro-batches (same sampler
    order, same per-sample augmentation): the same weights. The whole batch of 8 in one pass
    (BatchNorm over 8, not 2 x 4) is the control that shows the comparison can fail."""
    two, negatives_two = train(setup, 'two', 2, 4)
    micro, negatives_micro = train(setup, 'micro', 1, 8, 'model.micro_batches=2')
    whole, _ = train(setup, 'whole', 1, 8)
    assert negatives_two == negatives_micro == {7.0}  # every image against the other 7
    assert max_difference(micro, two) < 1e-6  # bit-identical on this machine
    assert max_difference(whole, two) > 1e-3


def test_gradient_accumulation_is_refused_where_it_would_shrink_the_negatives(setup):
    argv = [osp.join(ROOT, CONFIG), '--work-dir', str(setup['root'] / 'accumulate'),
            *options(setup, 4, 'optim_wrapper.accumulative_counts=2')]
    runner = Runner.from_cfg(train_tool.build_config(train_tool.parse_args(argv)))
    with pytest.raises(ValueError, match='accumulative_counts=2 would give the image loss '
                                         'ImageInfoNCE only the negatives'):
        runner.train()


def test_micro_batches_must_divide_the_batch_and_need_their_own_step(teacher_checkpoint):
    from mmengine.optim import OptimWrapper
    model = MODELS.build(dict(tiny_mimco(teacher_checkpoint), micro_batches=3))
    images, samples = masked_batch(batch=4)
    wrapper = OptimWrapper(torch.optim.SGD(model.backbone.parameters(), lr=0.1))
    with pytest.raises(ValueError, match='a batch of 4 samples does not split into '
                                         'micro_batches=3'):
        model.train_step(dict(inputs=images, data_samples=samples), wrapper)
    # a wrapper that runs mmengine's whole-batch step (e.g. the stock DDP one: its
    # _run_forward calls the model with mode='loss') is caught
    with pytest.raises(RuntimeError, match="model_wrapper_cfg=dict\\(type='MicroBatchDDP'\\)"):
        model(images, samples, mode='loss')
    with pytest.raises(ValueError, match='micro_batches must be an int >= 1'):
        MODELS.build(dict(tiny_mimco(teacher_checkpoint), micro_batches=0))
