"""The parts of the GPU tooling that a CPU can check: FLOP counts behind MFU, the bf16 peak table,
and tools/preflight/check_training.py's verdicts."""
import math

import pytest
import torch
from mmpretrain.registry import MODELS

from conftest import shell, tiny_mimco
from tools.preflight import check_training
from tools.speed.flops import (forward_flops, frozen_children, peak_tflops, step_flops,
                                  vit_forward_flops)


@pytest.mark.parametrize('arch,img,patch', [('deit-small', 224, 16), ('deit-base', 96, 16),
                                            (dict(embed_dims=64, num_layers=3, num_heads=4,
                                                  feedforward_channels=96), 64, 8)])
def test_closed_form_vit_flops_equal_the_counted_ones(arch, img, patch):
    """The closed form and FlopCounterMode on mmpretrain's ViT agree exactly (attention included:
    counted through SDPA's math form)."""
    model = MODELS.build(dict(type='VisionTransformer', arch=arch, img_size=img, patch_size=patch))
    d, depth, mlp = model.embed_dims, model.num_layers, model.layers[0].ffn.layers[0][0].out_features
    counted, frozen = forward_flops(model, torch.randn(2, 3, img, img))
    assert frozen == 0
    assert counted == vit_forward_flops(img, patch, d, depth, mlp)


def test_step_flops_count_the_frozen_teacher_once_and_the_rest_three_times(teacher_checkpoint):
    from conftest import IMG, PATCH, TINY_ARCH
    from mmpretrain.structures import DataSample
    model = MODELS.build(tiny_mimco(teacher_checkpoint))
    assert frozen_children(model) == ['target_generator']
    grid = IMG // PATCH
    images = torch.randn(4, 3, IMG, IMG)
    samples = [DataSample().set_mask((torch.rand(grid, grid) < 0.5).float()) for _ in range(4)]
    trained, frozen = forward_flops(model, images, samples, mode='loss')
    teacher_backbone = vit_forward_flops(IMG, PATCH, TINY_ARCH['embed_dims'],
                                         TINY_ARCH['num_layers'], TINY_ARCH['feedforward_channels'])
    # the teacher = its ViT + its projector neck (matmuls only)
    assert teacher_backbone < frozen < 1.2 * teacher_backbone
    assert trained > teacher_backbone  # student ViT + heads + losses
    assert step_flops(model, images, samples) == pytest.approx(3 * trained + frozen)


@pytest.mark.parametrize('name,peak', [('NVIDIA H100 80GB HBM3', 989.0), ('NVIDIA H100 PCIe', 756.0),
                                       ('NVIDIA H200', 989.0), ('NVIDIA A100-SXM4-80GB', 312.0),
                                       ('NVIDIA A10G', 70.0), ('NVIDIA A10', 125.0),
                                       ('Some Future GPU', None)])
def test_peak_lookup_by_device_name(name, peak):
    assert peak_tflops(name) == peak


def test_check_training_flags_a_changed_teacher(tmp_path, teacher_checkpoint):
    given = torch.load(teacher_checkpoint, weights_only=True)
    state = {f'target_generator.{k}': v.clone() for k, v in given['state_dict'].items()}
    state['backbone.cls_token'] = torch.zeros(1)
    torch.save(dict(state_dict=state, meta={}), tmp_path / 'same.pth')
    assert check_training.teacher_mismatches(str(tmp_path / 'same.pth'), teacher_checkpoint) == []
    name = next(k for k in given['state_dict'] if k.endswith('qkv.weight'))
    state[f'target_generator.{name}'] += 1e-6
    del state[f'target_generator.{next(iter(given["state_dict"]))}']
    torch.save(dict(state_dict=state, meta={}), tmp_path / 'changed.pth')
    bad = check_training.teacher_mismatches(str(tmp_path / 'changed.pth'), teacher_checkpoint)
    assert f'{name}: changed during training' in bad
    assert any('not in the trained checkpoint' in b for b in bad)


def test_check_training_flags_non_finite_losses_and_short_runs():
    log = [dict(iter=i, loss=1.0 / i, loss_a=0.5, time=0.1, data_time=0.01) for i in (10, 20, 30)]
    summary, failures = check_training.summarize(log, expected_iters=30, batch=8)
    assert failures == [] and summary['images_per_s'] == pytest.approx(80)
    log[1]['loss_a'] = math.nan
    _, failures = check_training.summarize(log, expected_iters=40, batch=8)
    assert failures == ['loss_a: 1 non-finite values', 'last logged iteration 30, expected 40']


def test_check_training_phases_account_for_the_iteration_and_change_nothing(tmp_path):
    """--phases times every part of a real tools/train.py run (tiny MimCo config, CPU): each
    model phase and each active hook appears, the parts never overlap (the rest is >= 0), and the
    timed run trains exactly like the untimed one."""
    import json
    import os.path as osp

    from mimco_mm.compat import load_checkpoint_file
    from tools._common import ROOT
    config = osp.join(ROOT, 'configs/mimco/vit-tiny_cpu.py')
    states = {}
    for phases in (None, 'device'):
        work = tmp_path / str(phases)
        # 10 iterations asked, 12 run (whole passes over 32 files), logged every 5: the last
        # window is shorter, as in gpu_check's phase stages (60 asked, 64 run, every 10)
        argv = [config, '--iters', '10', '--images', '32', '--batch', '8', '--workers', '0',
                '--image-size', '48', '40', '--log-interval', '5', '--work-dir', str(work),
                '--json', str(work / 'check.json')]
        assert check_training.main(argv + (['--phases', phases] if phases else [])) == 0
        last = open(work / 'last_checkpoint').read().strip()
        states[phases] = load_checkpoint_file(last)['state_dict']
        summary = json.load(open(work / 'check.json'))
        assert summary['iters'] == 12
    assert states[None].keys() == states['device'].keys()
    for key, value in states[None].items():
        assert torch.equal(value, states['device'][key]), key
    timed = summary['phases']
    assert timed['sync'] and timed['iterations'] >= 6
    rows = timed['phases']
    for name in ('data_preprocessor', 'forward', 'backward', 'optimizer_step', 'zero_grad',
                 'NonFiniteGuardHook.before_train_iter', 'IterTimerHook.after_train_iter',
                 'RuntimeInfoHook.after_train_iter', 'other', 'iteration'):
        assert name in rows, name
    assert all(r['median_ms'] > 0 for n, r in rows.items() if n in ('forward', 'backward'))
    assert rows['other']['min_ms'] >= 0
    parts = sum(r['mean_ms'] for n, r in rows.items() if n != 'iteration')
    assert parts == pytest.approx(rows['iteration']['mean_ms'], rel=1e-6)


@pytest.mark.parametrize('config, extra', [
    ('configs/mimco/vit-s_100e.py', []),
    ('configs/simmim/vit-s_100e.py', []),
    ('configs/mimco/vit-s_100e_1gpu.py', ['--train-args', '--cfg-options',
                                           'model.micro_batches=2']),
])
def test_the_real_stage2_configs_train_on_a_cpu_box(tmp_path, config, extra):
    """The 100-epoch configs themselves (bf16 AmpOptimWrapper, TorchRandomResizedCrop,
    MIMDataPreprocessor, the guard, the resumable loop), 4 iterations of 4 small JPEGs through
    tools/train.py on this CPU: finite losses, the teacher bit-identical; the micro-batch config
    contrasts each image with the whole batch."""
    import json
    import os.path as osp

    from mimco_mm.benchmark.plots import read_scalars
    from tools._common import ROOT
    out = tmp_path / 'check.json'
    assert check_training.main([osp.join(ROOT, config), '--iters', '3', '--images', '8',
                                '--batch', '4', '--workers', '0', '--image-size', '96', '72',
                                '--log-interval', '1', '--work-dir', str(tmp_path / 'run'),
                                '--json', str(out), *extra]) == 0
    summary = json.load(open(out))
    assert summary['iters'] == 4 and summary['failures'] == []
    if 'mimco' in config:
        assert summary['teacher_bit_identical']
        rows = [r for r in read_scalars(str(tmp_path / 'run')) if 'img_negatives' in r]
        assert rows and all(r['img_negatives'] == 3 for r in rows)


def test_the_stage1_step_counts_both_views_and_the_momentum_encoder_once(tmp_path):
    """benchmark_step.py --stage1: MoCo v3's batch is one tensor per view, its momentum encoder is
    the frozen part (counted once per view), and the run reports it beside MimCo and SimMIM."""
    import json

    from tools.speed import benchmark_step
    cpu = torch.device('cpu')
    model, _, cfg = benchmark_step.build('configs/mocov3/vit-tiny_cpu.py', str(tmp_path), cpu)
    images, samples = benchmark_step.make_batch(cfg, 2, cpu)
    assert [tuple(v.shape) for v in images] == [(2, 3, 32, 32)] * 2 and len(samples) == 2
    assert frozen_children(model) == ['momentum_encoder']
    trained, frozen = forward_flops(model, images, samples, mode='loss')
    per_view = sum(forward_flops(model.momentum_encoder.module, images[0]))  # ViT + projector
    assert frozen == pytest.approx(2 * per_view)  # both views through the momentum encoder
    assert trained > 2 * per_view  # both views through the student, plus the predictor
    done = shell('tools/speed/benchmark_step.py', '--mimco', 'configs/mimco/vit-tiny_cpu.py',
                 '--simmim', 'configs/simmim/vit-tiny_cpu.py',
                 '--stage1', 'configs/mocov3/vit-tiny_cpu.py', '--batch', '2',
                 '--iters', '1', '--warmup', '0', '--json', tmp_path / 'step.json')
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = json.loads((tmp_path / 'step.json').read_text())['models']
    assert set(rows) == {'MimCo', 'SimMIM', benchmark_step.STAGE1}
    stage1 = rows[benchmark_step.STAGE1]
    assert stage1['images_per_s'] > 0
    assert stage1['gflops_per_image'] * 1e9 == pytest.approx(3 * trained + frozen)


def test_gpu_check_runs_the_selected_stages_and_counts_failures(tmp_path):
    """gpu_check.sh itself, in this venv (--skip-setup): without a GPU its env stage fails (the
    only stage on a node whose torch sees no GPU), unless --allow-cpu (the rehearsal); --only
    runs just the named stages, and the exit status is the number of failed stages. (On a
    machine with a GPU, the env stage passes either way.)"""
    import os
    import os.path as osp
    import subprocess
    import sys

    from tools._common import ROOT
    env = dict(os.environ, VENV=osp.dirname(osp.dirname(sys.executable)))

    def gpu_check(out, *args):
        res = subprocess.run(['bash', 'tools/gpu_check/gpu_check.sh', '--skip-setup', '--out',
                              str(out), *args], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=300)
        return res, open(out / 'summary.md').read()

    res, summary = gpu_check(tmp_path / 'strict', '--only', 'none_of_them')
    if torch.cuda.is_available():
        assert res.returncode == 0 and '- env: ok' in summary, res.stdout + res.stderr
    else:
        assert res.returncode == 1, res.stdout + res.stderr
        assert '- env: FAILED, exit 1' in summary and 'NO CUDA DEVICE' in res.stdout
    assert 'bench_vit-s: not selected' in res.stdout and 'No such file' not in res.stderr
    res, summary = gpu_check(tmp_path / 'cpu', '--allow-cpu', '--only', 'dist_*')
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    stages = [line.split(':')[0][2:] for line in summary.splitlines() if line.startswith('- ')]
    assert stages == ['env', 'dist_check'] and 'verdict: OK' in summary
    assert 'total ' in summary and '0 failed stage(s)' in summary
