"""tools/analysis_tools/compare_runs.py: a run against a reference run (curves and provenance), and the
data fingerprint the provenance comparison relies on."""
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest

from conftest import make_image_folder, shell
from mimco_mm.benchmark.compare import (Run, compare_runs, load_run, provenance_differences,
                                        session_differences, sessions_text)
from mimco_mm.provenance import data_fingerprint
from tools._common import ROOT, load_config
from tools.analysis_tools import compare_runs as compare_tool
from tools.preflight import check_training


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    """A real tools/train.py run (tiny MimCo config, 12 iterations, logged every 2)."""
    work = tmp_path_factory.mktemp('run')
    assert check_training.main([osp.join(ROOT, 'configs/mimco/vit-tiny_cpu.py'), '--iters', '12',
                                '--images', '32', '--batch', '8', '--workers', '0',
                                '--image-size', '48', '40', '--log-interval', '2',
                                '--work-dir', str(work)]) == 0
    return str(work)


def synthetic(iters, values, batch=None, **provenance):
    record = dict(provenance, batch=dict(effective=batch)) if batch else provenance or None
    return Run('synthetic', dict(loss=list(zip(iters, values))), record)


def test_the_text_log_and_the_work_dir_give_the_same_curves(tiny_run):
    logs = [osp.join(d, f) for d, _, files in os.walk(tiny_run) for f in files
            if f.endswith('.log')]
    from_dir, from_log = load_run(tiny_run), load_run(logs[0])
    assert from_dir.provenance['batch']['effective'] == 8  # from the newest checkpoint
    assert from_log.provenance is None
    for key in ('loss', 'loss_patch', 'loss_img'):
        (it_a, v_a), (it_b, v_b) = (zip(*r.curves[key]) for r in (from_dir, from_log))
        assert it_a == it_b == tuple(range(2, 13, 2))
        np.testing.assert_allclose(v_a, v_b, rtol=1e-3)  # the text log rounds to 4 digits
    result = compare_runs(from_log, from_dir)
    assert result['within'] and max(r['max_rel'] for r in result['curves'].values()) < 1e-3


def test_a_curve_that_leaves_the_reference_is_found_where_it_leaves():
    rng = np.random.default_rng(0)
    iters = np.arange(1, 101)
    ref_values = 5 * np.exp(-iters / 50) + 1 + rng.normal(0, 0.01, 100)
    run_values = ref_values * np.where(iters >= 40, 1.10, 1.0)
    ref = synthetic(iters, ref_values)
    same = compare_runs(synthetic(iters, ref_values), ref)
    assert same['within'] and same['curves']['loss']['max_rel'] == 0
    off = compare_runs(synthetic(iters, run_values), ref, rtol=0.05)
    assert not off['within']
    assert off['curves']['loss']['first_over'] == 40  # running median of 5: not one point early
    assert off['curves']['loss']['max_rel'] == pytest.approx(0.10, abs=0.01)
    nan = compare_runs(synthetic(iters, np.where(iters > 90, np.nan, ref_values)), ref)
    assert not nan['within'] and nan['curves']['loss']['first_over'] == 91


def test_runs_on_other_gpu_counts_are_aligned_by_images_seen():
    """16 images per step vs 8: the same loss after the same images is no deviation by images,
    a large one by iteration."""
    images = np.arange(16, 1601, 16)
    loss = 5 * np.exp(-images / 400)
    run = synthetic(images // 16, loss, batch=16)
    ref = synthetic(np.arange(8, 1601, 8) // 8, 5 * np.exp(-np.arange(8, 1601, 8) / 400),
                    batch=8)
    assert compare_runs(run, ref, by='images')['curves']['loss']['max_rel'] < 1e-3
    assert not compare_runs(run, ref, by='iter')['within']
    with pytest.raises(ValueError, match='effective batch'):
        compare_runs(synthetic(images // 16, loss), ref, by='images')


def test_provenance_differences_mark_what_changes_the_numbers():
    base = dict(batch=dict(effective=2048), lr=dict(after_scaling=4e-4),
                versions=dict(torch='2.11'), git_commit='abc', wall_s=10)
    other = dict(batch=dict(effective=1024), lr=dict(after_scaling=4e-4),
                 versions=dict(torch='2.14'), git_commit='def', wall_s=20)
    diffs = {d['field']: d for d in provenance_differences(other, base)}
    assert set(diffs) == {'batch_effective', 'torch'}  # commit and wall time are not compared
    assert diffs['batch_effective']['recipe'] and not diffs['torch']['recipe']
    assert diffs['batch_effective']['run'] == 1024


def test_the_config_hash_is_the_recipe_wherever_the_run_writes_or_reads():
    """The same recipe in another work dir, on another mount of the data, resumed, under another
    experiment name: one hash (each used to change it, and compare_runs.py then marked two runs
    of one recipe '* config_sha256'). An lr, or weights a fresh run starts from, change it."""
    from mimco_mm.provenance import recipe_sha256
    cfg = load_config(osp.join(ROOT, 'configs/mimco/vit-tiny_cpu.py'))
    cfg.work_dir, cfg.launcher = 'work_dirs/a', 'none'
    recipe = recipe_sha256(cfg)
    cfg.work_dir, cfg.experiment_name = '/scratch/b', 'rerun'
    cfg.train_dataloader.dataset.data_root = '/mnt/other/imagenet'
    cfg.resume, cfg.load_from = True, '/scratch/b/iter_500.pth'
    assert recipe_sha256(cfg) == recipe
    cfg.resume = False  # now load_from gives a fresh run its weights
    assert recipe_sha256(cfg) != recipe
    cfg.load_from = None
    assert recipe_sha256(cfg) == recipe
    cfg.optim_wrapper.optimizer.lr *= 2
    assert recipe_sha256(cfg) != recipe


def test_sessions_of_a_resumed_run_are_compared_and_images_seen_refused():
    first = dict(batch=dict(effective=2048), seed=0, started_at_iter=0, ended_at_iter=500,
                 wall_s=100)
    last = dict(batch=dict(effective=1024), seed=0, started_at_iter=500, wall_s=7,
                earlier_sessions=[first])
    (diff, ) = session_differences(last)  # wall time is not compared
    assert diff == dict(field='batch_effective', recipe=True, sessions=[(0, 2048), (500, 1024)])
    assert session_differences(first) == []
    assert sessions_text(diff) == '2048 from iteration 0, 1024 from iteration 500'
    assert sessions_text(dict(sessions=[(0, 'a' * 64), (500, 'b' * 64)])) == \
        'aaaaaaaaaaaa from iteration 0, bbbbbbbbbbbb from iteration 500'  # hashes shortened
    run = Run('resumed', {'loss': [(i, 1.0) for i in range(1, 20)]}, last)
    ref = Run('ref', {'loss': [(i, 1.0) for i in range(1, 20)]}, dict(batch=dict(effective=2048)))
    assert compare_runs(run, ref)['sessions']['run'] == [diff]
    with pytest.raises(ValueError, match='resumed with another effective batch'):
        compare_runs(run, ref, by='images')


def test_a_resumed_run_continues_its_curve(tmp_path):
    """Two scalars.json in one work dir (a run and its resume from iteration 4): one curve."""
    first, second = tmp_path / 'a' / 'vis_data', tmp_path / 'b' / 'vis_data'
    for folder, rows in ((first, [(i, 10.0 - i) for i in range(1, 7)]),
                         (second, [(i, 100.0 - i) for i in range(5, 9)])):
        folder.mkdir(parents=True)
        (folder / 'scalars.json').write_text(
            ''.join(json.dumps(dict(loss=v, iter=i, step=i)) + '\n' for i, v in rows))
    os.utime(first / 'scalars.json', (1, 1))
    assert load_run(str(tmp_path)).curves['loss'] == [(1, 9.0), (2, 8.0), (3, 7.0), (4, 6.0),
                                                      (5, 95.0), (6, 94.0), (7, 93.0), (8, 92.0)]


def test_the_command_exits_1_out_of_tolerance_and_2_on_bad_input(tiny_run, tmp_path, capsys):
    scalars = next(osp.join(d, 'scalars.json') for d, _, f in os.walk(tiny_run)
                   if 'scalars.json' in f)
    rows = [json.loads(line) for line in open(scalars)]
    for row in rows:
        row['loss_img'] *= 1.5
    shifted = tmp_path / 'shifted.json'
    shifted.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    assert compare_tool.main([tiny_run, tiny_run]) == 0
    done = shell('tools/analysis_tools/compare_runs.py', shifted, tiny_run, '--plot', tmp_path / 'c.png')
    assert done.returncode == 1, done.stderr[-2000:]
    assert 'OUT OF TOLERANCE: loss_img from 2' in done.stdout and osp.getsize(tmp_path / 'c.png') > 0
    assert compare_tool.main([str(tmp_path / 'nothing'), tiny_run]) == 2
    assert str(tmp_path / 'nothing') in capsys.readouterr().err
    assert compare_tool.main([tiny_run, tiny_run, '--keys', 'loss_typo']) == 2
    assert "['loss_typo'] not logged by both runs" in capsys.readouterr().err


def test_the_data_fingerprint_does_not_depend_on_where_the_data_is(tmp_path):
    from mmengine.dataset import RepeatDataset
    from mmpretrain.datasets import CustomDataset
    make_image_folder(str(tmp_path / 'a'), classes=2, per_class=3)
    shutil.copytree(tmp_path / 'a', tmp_path / 'elsewhere' / 'b')

    def fingerprint(root):
        data = CustomDataset(data_root=root, data_prefix='train', pipeline=[])
        return data_fingerprint(RepeatDataset(data, times=2))  # as check_training wraps it

    a, b = fingerprint(str(tmp_path / 'a')), fingerprint(str(tmp_path / 'elsewhere' / 'b'))
    assert a == b and a['num_samples'] == 6  # the files, however often the wrapper repeats them
    os.remove(tmp_path / 'elsewhere' / 'b' / 'train' / 'class_1' / '0.png')
    assert fingerprint(str(tmp_path / 'elsewhere' / 'b'))['sha256'] != a['sha256']
