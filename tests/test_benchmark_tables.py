"""tools/benchmark.py on fixture metrics files."""
import csv
import json
import os

import pytest

from conftest import shell
from tools import benchmark


def _write(root, run, task, metrics, config='configs/benchmarks/vit-s_knn_in1k.py'):
    folder = root / run / task
    os.makedirs(folder, exist_ok=True)
    (folder / 'metrics.json').write_text(json.dumps(dict(config=config, metrics=metrics)))


def test_tables_from_fixture_runs(tmp_path):
    root = tmp_path / 'work_dirs'
    _write(root, 'mimco_vit-s_100e', 'ft', {'accuracy/top1': 82.1})
    _write(root, 'mimco_vit-s_100e', 'knn', {'knn/top1_k20': 70.25, 'knn/top1_k10': 70.0})
    _write(root, 'mimco_vit-s_100e', 'coco', {'coco/bbox_mAP': 0.471, 'coco/segm_mAP': 0.42})
    _write(root, 'mimco_vit-s_100e', 'roxford', {'retrieval/mAP_medium': 35.5,
                                                 'retrieval/mAP_hard': 12.0})
    _write(root, 'mimco_vit-b_100e', 'ft', {'accuracy/top1': 83.9},
           config='configs/benchmarks/vit-b_ft-100e_in1k.py')
    tables = benchmark.main(['--root', str(root), '--out-dir', str(tmp_path / 'out')])
    markdown = (tmp_path / 'out' / 'results.md').read_text()
    # the same tables from the shell, as the docs show the command
    done = shell('tools/benchmark.py', '--root', root, '--out-dir', tmp_path / 'shell')
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / 'shell' / 'results.md').read_text() == markdown
    ours = next(r for r in tables['ViT-S/16'] if r['method'] == 'mimco_vit-s_100e')
    assert ours['ft'] == 82.1 and ours['knn'] == 70.25
    assert ours['coco_box'] == pytest.approx(47.1) and ours['coco_mask'] == pytest.approx(42.0)
    assert 'linear' not in ours and 'ade' not in ours
    row = next(line for line in markdown.splitlines() if line.startswith('| mimco_vit-s_100e'))
    cells = [c.strip() for c in row.strip('|').split('|')]
    # columns with a value in some row only (no one reported Recall@1 here): ft, ft (iBOT
    # recipe: iBOT's published row), linear, k-NN, COCO box / mask, Cascade box / mask, ...
    assert 'Recall@1' not in markdown
    assert cells[2:10] == ['82.10', '–', '–', '70.25', '47.10', '42.00', '–', '–']
    assert '| iBOT | 800 | – | 82.30 |' in markdown  # iBOT's recipe, in its own column
    assert '| MimCo (paper) | 100 | 82.53 |' in markdown
    assert 'arXiv 2209.03063' in markdown
    assert any(r['method'] == 'mimco_vit-b_100e' for r in tables['ViT-B/16'])
    with open(tmp_path / 'out' / 'results.csv') as f:
        rows = list(csv.DictReader(f))
    mine = next(r for r in rows if r['method'] == 'mimco_vit-s_100e')
    assert float(mine['ft']) == 82.1 and mine['linear'] == ''


def test_no_published_and_single_title(tmp_path):
    root = tmp_path / 'runs'
    _write(root, 'mimco', 'knn', {'knn/top1_k20': 50.0})
    tables = benchmark.main(['--root', str(root), '--no-published', '--title', 'CPU demo'])
    assert list(tables) == ['CPU demo'] and tables['CPU demo'][0]['knn'] == 50.0


def test_broken_metrics_file_is_named(tmp_path):
    folder = tmp_path / 'runs' / 'mimco' / 'knn'
    os.makedirs(folder)
    (folder / 'metrics.json').write_text('{"metrics": ')
    with pytest.raises(ValueError, match='mimco/knn/metrics.json is not valid JSON'):
        benchmark.main(['--root', str(tmp_path / 'runs')])


def test_rows_say_how_their_runs_depart_from_the_protocol(tmp_path):
    """A fine-tune trained at another batch without lr scaling and for fewer epochs, a linear
    probe run exactly as prescribed, and a result without provenance."""
    root = tmp_path / 'work_dirs'

    def provenance(effective, epochs, auto=False):
        return dict(git_commit='abc', checkpoint=dict(
            batch=dict(per_device=32, effective=effective, base_batch_size=1024,
                       auto_scale_lr=auto),
            epochs_or_iters=dict(max_epochs=epochs, max_iters=None)))

    for task, record in (
            ('ft', dict(metrics={'accuracy/top1': 80.0}, provenance=provenance(256, 50))),
            ('linear', dict(metrics={'accuracy/top1': 70.0}, provenance=provenance(1024, 90))),
            ('knn', dict(metrics={'knn/top1_k20': 60.0}))):
        folder = root / 'mimco_vit-s_100e' / task
        os.makedirs(folder)
        (folder / 'metrics.json').write_text(json.dumps(
            dict(config=f'configs/benchmarks/vit-s_{task}.py', **record)))
    tables = benchmark.main(['--root', str(root), '--no-published'])
    source = tables['ViT-S/16'][0]['source']
    assert "ft: batch 256 instead of the recipe's 1024, lr not rescaled" in source
    assert "ft: 50 of the protocol's 200 epochs" in source
    assert 'linear:' not in source  # as prescribed: no note
    assert 'knn: no provenance' in source
    assert 'NOT the protocol' in (root / 'results.md').read_text()


def test_a_run_resumed_with_another_batch_is_not_the_protocol(tmp_path):
    """A fine-tune whose first session ran at batch 512 without lr scaling and whose resumed
    session ran at the recipe's 1024: its last session alone looks like the protocol (the only
    session a checkpoint described before ProvenanceHook kept the earlier ones)."""
    root = tmp_path / 'work_dirs'

    def session(effective, start):
        return dict(batch=dict(per_device=effective // 8, effective=effective,
                               base_batch_size=1024, auto_scale_lr=False),
                    epochs_or_iters=dict(max_epochs=200, max_iters=None), started_at_iter=start)

    trained = dict(session(1024, 5000), earlier_sessions=[dict(session(512, 0),
                                                                ended_at_iter=5000)])
    folder = root / 'mimco_vit-s_100e' / 'ft'
    os.makedirs(folder)
    (folder / 'metrics.json').write_text(json.dumps(dict(
        config='configs/benchmarks/vit-s_ft.py', metrics={'accuracy/top1': 80.0},
        provenance=dict(git_commit='abc', checkpoint=trained))))
    source = benchmark.main(['--root', str(root), '--no-published'])['ViT-S/16'][0]['source']
    assert "ft: batch 512 instead of the recipe's 1024, lr not rescaled" in source
    assert ('ft: resumed with another batch_effective (512 from iteration 0, 1024 from '
            'iteration 5000)') in source


def test_cascade_results_and_the_ibot_row_share_their_own_columns(tmp_path):
    """iBOT's COCO numbers come from Cascade Mask R-CNN: they sit in the Cascade columns, next to
    our run of the same protocol, never in the Mask R-CNN columns."""
    root = tmp_path / 'work_dirs'
    _write(root, 'mimco_vit-s_100e', 'coco', {'coco/bbox_mAP': 0.45, 'coco/segm_mAP': 0.40})
    _write(root, 'mimco_vit-s_100e', 'coco_cascade', {'coco/bbox_mAP': 0.48, 'coco/segm_mAP': 0.41},
           config='configs/benchmarks/cascade-mask-rcnn_vit-s_fpn_giou-4conv1f_ms-1x_coco.py')
    tables = benchmark.main(['--root', str(root), '--out-dir', str(tmp_path / 'out')])
    ours = next(r for r in tables['ViT-S/16'] if r['method'] == 'mimco_vit-s_100e')
    assert ours['coco_box'] == pytest.approx(45.0)
    assert ours['cascade_box'] == pytest.approx(48.0) and ours['cascade_mask'] == pytest.approx(41.0)
    ibot = next(r for r in tables['ViT-S/16'] if r['method'] == 'iBOT')
    assert ibot['cascade_box'] == 49.4 and ibot['cascade_mask'] == 42.6
    assert 'coco_box' not in ibot and 'coco_mask' not in ibot
    markdown = (tmp_path / 'out' / 'results.md').read_text()
    assert 'COCO Cascade AP box' in markdown


def test_every_published_row_says_which_of_its_protocols_are_ours():
    """A published number beside ours must say whether it was measured the same way."""
    from mimco_mm.benchmark.published import PUBLISHED
    for arch, rows in PUBLISHED.items():
        for row in rows:
            if row['method'] == 'MimCo (paper)':
                continue  # the paper's abstract gives no protocol
            source = row['source']
            assert '= ours' in source or 'not ours' in source, (arch, row['method'], source)


def test_our_rows_show_the_pre_training_epochs_their_checkpoint_records(tmp_path):
    root = tmp_path / 'work_dirs'
    folder = root / 'mimco_vit-s_100e' / 'knn'
    os.makedirs(folder)
    provenance = dict(checkpoint=dict(epochs_or_iters=dict(max_epochs=100, max_iters=None)))
    (folder / 'metrics.json').write_text(json.dumps(dict(
        config='configs/benchmarks/vit-s_knn_in1k.py', metrics={'knn/top1_k20': 70.0},
        provenance=provenance)))
    tables = benchmark.main(['--root', str(root), '--out-dir', str(tmp_path / 'out'),
                             '--no-published'])
    (row, ) = next(iter(tables.values()))
    assert row['epochs'] == '100'
    assert '| mimco_vit-s_100e | 100 | 70.00 |' in (tmp_path / 'out' / 'results.md').read_text()
