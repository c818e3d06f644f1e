"""The demo's pieces: bundled data export, plots, and tools/demo.py end to end on a tiny folder."""
import json
import os
import os.path as osp

import numpy as np
import torch
from PIL import Image

from conftest import make_image_folder, shell
from mimco_mm.benchmark import plots
import pytest

from mimco_mm.datasets import export_mnist5k, export_photo_crops


def test_mnist5k_export_is_a_balanced_labelled_folder(tmp_path):
    root = export_mnist5k(str(tmp_path / 'mnist'), val_per_class=100)
    for split, count in (('train', 400), ('val', 100)):
        classes = sorted(os.listdir(osp.join(root, split)))
        assert classes == [str(d) for d in range(10)]
        assert all(len(os.listdir(osp.join(root, split, c))) == count for c in classes)
    img = np.array(Image.open(osp.join(root, 'train', '3', sorted(
        os.listdir(osp.join(root, 'train', '3')))[0])))
    assert img.shape == (32, 32, 3) and img.max() > 100 and img[:2].max() == 0  # centred digit
    # train and val are disjoint
    train = set(os.listdir(osp.join(root, 'train', '7')))
    assert not train & set(os.listdir(osp.join(root, 'val', '7')))
    assert osp.isfile(osp.join(root, '.complete'))


def test_photo_crops_are_a_balanced_grey_labelled_folder_from_the_scikit_image_wheel(tmp_path):
    from mimco_mm.datasets.bundled import PHOTOS
    root = export_photo_crops(str(tmp_path / 'photos'), per_class=6, val_per_class=2)
    for split, count in (('train', 4), ('val', 2)):
        classes = sorted(os.listdir(osp.join(root, split)))
        assert classes == [f'{i:02d}_{name}' for i, name in enumerate(PHOTOS)]
        assert all(len(os.listdir(osp.join(root, split, c))) == count for c in classes)
    img = np.array(Image.open(osp.join(root, 'train', '00_astronaut', '0002.png')))
    assert img.shape == (32, 32, 3) and img.std() > 0
    assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()  # grey
    # the same seed gives the same crops; another seed other crops
    again = export_photo_crops(str(tmp_path / 'again'), per_class=6, val_per_class=2)
    other = export_photo_crops(str(tmp_path / 'other'), per_class=6, val_per_class=2, seed=1)
    same = np.array(Image.open(osp.join(again, 'train', '00_astronaut', '0002.png')))
    different = np.array(Image.open(osp.join(other, 'train', '00_astronaut', '0002.png')))
    assert (same == img).all() and not (different == img).all()


def test_an_export_replaces_only_what_an_export_wrote(tmp_path):
    root = str(tmp_path / 'demo')
    export_mnist5k(root, val_per_class=100)
    os.makedirs(osp.join(root, 'coco'))  # the dense sets live beside the export
    export_photo_crops(root, per_class=6, val_per_class=2)  # another bundled set: rewritten
    assert len(os.listdir(osp.join(root, 'train'))) == 20 and osp.isdir(osp.join(root, 'coco'))
    assert 'scikit-image' in open(osp.join(root, '.complete')).read()
    mine = str(tmp_path / 'mine')
    make_image_folder(mine, classes=2, per_class=2)  # images no export wrote: never touched
    with pytest.raises(FileExistsError, match='no bundled export wrote'):
        export_photo_crops(mine, per_class=6, val_per_class=2)
    assert len(os.listdir(osp.join(mine, 'train'))) == 2


def test_pca_recovers_the_dominant_directions():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 3, generator=g) * torch.tensor([10.0, 3.0, 0.1])
    xy = plots.pca_2d(x)
    # first component follows feature 0, second follows feature 1 (up to sign)
    assert abs(np.corrcoef(xy[:, 0], x[:, 0].numpy())[0, 1]) > 0.99
    assert abs(np.corrcoef(xy[:, 1], x[:, 1].numpy())[0, 1]) > 0.99


def test_demo_refuses_schedules_its_configs_cannot_run(tmp_path, capsys):
    """One pre-training epoch leaves the cosine after the warm-up epoch no span: a clear usage
    error before any work, not mmengine's 'end should be larger than begin' after the export."""
    from tools import demo
    for flag, value in (('--stage1-epochs', '1'), ('--stage2-epochs', '0'),
                        ('--linear-epochs', '0')):
        with pytest.raises(SystemExit) as stop:
            demo.main(['--data', str(tmp_path / 'absent'), '--work-dir', str(tmp_path / 'w'),
                       flag, value])
        assert stop.value.code == 2 and f'{flag} {value}' in capsys.readouterr().err
    assert not (tmp_path / 'w').exists()


def test_demo_end_to_end_on_a_tiny_folder(tmp_path):
    """`tools/demo.py --data FOLDER` from the shell, as `make demo DATA=...` runs it."""
    data = make_image_folder(str(tmp_path / 'data'), classes=3, per_class=22, size=32,
                             splits=('train', 'val'))
    work = tmp_path / 'demo'
    stale = work / 'eval' / 'raw pixels' / 'linear' / 'metrics.json'  # an older demo's result
    stale.parent.mkdir(parents=True)
    stale.write_text('{"metrics": {"accuracy/top1": 14.9}}')
    done = shell('tools/demo.py', '--data', data, '--work-dir', work, '--stage1-epochs', '2',
                 '--stage2-epochs', '2', '--linear-epochs', '1')
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert '[demo 11/11' in done.stdout  # progress, step by step
    report = (work / 'report.md').read_text()
    for name in ('random init', 'teacher (MoCo v3)', 'SimMIM', 'MimCo', 'raw pixels'):
        assert f'| {name} |' in report
        knn = json.loads((work / 'eval' / name / 'knn' / 'metrics.json').read_text())['metrics']
        assert 0 <= knn['logreg/top1'] <= 100  # the table's seed-free linear read-out
        assert (work / 'eval' / name / 'linear' / 'metrics.json').is_file() == (
            name != 'raw pixels')
    assert 'log. regression top-1' in report
    # pre-trained rows show the epochs their checkpoint records; only columns with values appear
    assert '| MimCo | 2 |' in report and '| SimMIM | 2 |' in report
    assert 'ROxf' not in report and 'Recall@1' not in report
    assert (work / 'eval' / 'MimCo' / 'coco' / 'metrics.json').is_file()
    assert (work / 'eval' / 'MimCo' / 'ade' / 'metrics.json').is_file()
    # the stage-2 runs logged the student's k-NN (KNNMonitorHook, on in the CPU configs)
    for run in ('mimco', 'simmim'):
        assert [r for r in plots.read_scalars(str(work / 'pretrain' / run)) if 'knn/top1' in r]
    for png in ('loss_curves.png', 'accuracy.png', 'embeddings.png', 'knn_curves.png',
                'attention.png'):
        assert Image.open(work / png).size[0] > 200
        assert f'({png})' in report


def test_a_rerun_in_the_same_work_dir_replaces_its_curve_and_a_resume_extends_it(tmp_path):
    import json
    import time
    runs = (('1_first', [(1, 50.0), (2, 55.0), (3, 57.0)]),
            ('2_rerun', [(1, 60.0), (2, 65.0)]),  # shorter rerun: the old iteration 3 goes
            ('3_resume', [(2, 66.0), (3, 70.0)]))  # resumed at 2: iteration 1 stays
    for run, rows in runs:
        folder = tmp_path / run / 'vis_data'
        folder.mkdir(parents=True)
        (folder / 'scalars.json').write_text(
            ''.join(json.dumps({'knn/top1': v, 'step': s}) + '\n' for s, v in rows))
        time.sleep(0.01)  # distinct modification times, in run order
    assert plots.curve(plots.read_runs(str(tmp_path)), 'knn/top1') == [
        (1, 60.0), (2, 66.0), (3, 70.0)]
    assert plots.curve(plots.read_runs(str(tmp_path))[:2], 'knn/top1') == [(1, 60.0), (2, 65.0)]
