"""Bad data before and during a run: tools/data/check_dataset.py finds every kind of bad file,
tools/data/imagenet_meta.py writes mmpretrain's annotation files from the ILSVRC layout, a bad
image met in training is an error naming it (or, opted in, a logged skip), and num_workers=0
works with configs that ask for persistent workers."""
import hashlib
import io
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from conftest import make_image_folder, run_train, shell
from mimco_mm.compat import BadImageError
from tools._common import ROOT, load_config
from tools.speed.benchmark_step import random_teacher_checkpoint
from tools.data import check_dataset, imagenet_meta

MIMCO = 'configs/mimco/vit-tiny_cpu.py'


def _jpeg_bytes(size=40, mode='RGB'):
    buf = io.BytesIO()
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (size, size, 3), np.uint8))
    img.convert(mode).save(buf, format='JPEG')
    return buf.getvalue()


def _png_bytes(size=40):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (size, size, 3), np.uint8)).save(
        buf, format='PNG')
    return buf.getvalue()


BAD_FILES = {  # relative path -> (bytes, the kind check_dataset must report)
    'class_0/zero.jpg': (b'', 'empty_file'),
    'class_0/truncated.jpg': (_jpeg_bytes()[:400], 'truncated'),
    'class_0/truncated.png': (_png_bytes()[:300], 'truncated'),
    'class_0/png_named.JPEG': (_png_bytes(), 'wrong_extension'),
    'class_1/cmyk.jpg': (_jpeg_bytes(mode='CMYK'), 'non_rgb'),
    'class_1/gray.jpg': (_jpeg_bytes(mode='L'), 'non_rgb'),
    'class_1/notes.jpg': (b'these are not pixels\n' * 20, 'unreadable'),
    'class_1/tiny.png': (_png_bytes(size=8), 'too_small'),
}


@pytest.fixture()
def bad_folder(tmp_path):
    root = make_image_folder(str(tmp_path / 'data'), classes=2, per_class=6)
    for rel, (data, _) in BAD_FILES.items():
        with open(osp.join(root, 'train', rel), 'wb') as f:
            f.write(data)
    os.makedirs(osp.join(root, 'train', 'class_2'))  # a class with no image
    return osp.join(root, 'train')


def _digest(folder):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            with open(osp.join(dirpath, name), 'rb') as f:
                h.update(name.encode() + f.read())
    return h.hexdigest()


def test_preflight_reports_each_kind_of_bad_file_and_writes_a_clean_list(bad_folder, tmp_path,
                                                                        capsys):
    before = _digest(bad_folder)
    report, clean = tmp_path / 'report.json', tmp_path / 'clean.txt'
    status = check_dataset.main([bad_folder, '--min-size', '16', '--workers', '2',
                                 '--report', str(report), '--write-clean-list', str(clean)])
    assert status == 1
    found = json.loads(report.read_text())['folder']
    for rel, (_, kind) in BAD_FILES.items():
        assert osp.join(bad_folder, rel) in {item['path'] for item in found[kind]}, (rel, kind)
    assert found['empty_class'] == [dict(path='class_2', detail='no images')]
    assert 'CMYK' in json.dumps(found['non_rgb']) and 'PNG data' in json.dumps(
        found['wrong_extension'])
    good = [line.split() for line in clean.read_text().splitlines()]
    assert len(good) == 12 and all(rel.endswith('.png') and rel.split('/')[1][0].isdigit()
                                   for rel, _ in good)
    assert {label for _, label in good} == {'0', '1'}
    assert _digest(bad_folder) == before  # images are never touched
    out = capsys.readouterr().out
    assert 'truncated' in out and 'FOUND problems' in out


def test_preflight_of_a_config_reads_its_annotation_file(bad_folder, tmp_path):
    """Through a training config: the crop size (32) is the minimum, annotation entries whose
    file is missing are reported, and the clean list makes the same config pass."""
    data_root = osp.dirname(bad_folder)
    ann = tmp_path / 'ann.txt'
    ann.write_text('class_0/0.png 0\nclass_1/0.png 1\nclass_0/gone.png 0\nclass_1/tiny.png 1\n')
    opts = ['--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
            f'train_dataloader.dataset.ann_file={ann}']
    report = tmp_path / 'report.json'
    clean = tmp_path / 'clean.txt'
    status = check_dataset.main([osp.join(ROOT, MIMCO), '--report', str(report),
                                 '--write-clean-list', str(clean), *opts])
    assert status == 1
    found = json.loads(report.read_text())['train']
    assert [osp.basename(i['path']) for i in found['missing_file']] == ['gone.png']
    assert [osp.basename(i['path']) for i in found['too_small']] == ['tiny.png']  # 8 < 32
    assert clean.read_text().split('\n')[:2] == ['class_0/0.png 0', 'class_1/0.png 1']
    opts[-1] = f'train_dataloader.dataset.ann_file={clean}'
    assert check_dataset.main([osp.join(ROOT, MIMCO), *opts]) == 0


def test_ignored_kinds_are_reported_but_do_not_fail(tmp_path):
    root = make_image_folder(str(tmp_path / 'data'), classes=1, per_class=3)
    with open(osp.join(root, 'train', 'class_0', 'gray.jpg'), 'wb') as f:
        f.write(_jpeg_bytes(mode='L'))
    folder = osp.join(root, 'train')
    done = shell('tools/data/check_dataset.py', folder)
    assert done.returncode == 1 and 'gray.jpg: mode L' in done.stdout, done.stdout + done.stderr
    assert check_dataset.main([folder, '--ignore', 'non_rgb']) == 0


def test_imagenet_meta_from_the_ilsvrc_layout(tmp_path):
    from scipy.io import savemat
    wnids = ['n01440764', 'n01443537', 'n02119789']  # sorted = mmpretrain's label order
    for w in wnids:
        os.makedirs(tmp_path / 'train' / w)
        for i in range(2):
            (tmp_path / 'train' / w / f'{w}_{i}.JPEG').write_bytes(b'x')
    os.makedirs(tmp_path / 'val')
    truth = ['n02119789', 'n01440764', 'n01443537', 'n02119789']
    for i in range(4):
        (tmp_path / 'val' / f'ILSVRC2012_val_{i + 1:08d}.JPEG').write_bytes(b'x')
    # Kaggle's CSV
    csv = tmp_path / 'LOC_val_solution.csv'
    csv.write_text('ImageId,PredictionString\n' + ''.join(
        f'ILSVRC2012_val_{i + 1:08d},{w} 1 2 3 4 {w} 5 6 7 8\n' for i, w in enumerate(truth)))
    done = shell('tools/data/imagenet_meta.py', tmp_path, '--val-labels', csv)
    assert done.returncode == 0, done.stdout + done.stderr
    train = (tmp_path / 'meta' / 'train.txt').read_text().splitlines()
    assert train[0] == 'n01440764/n01440764_0.JPEG 0' and train[-1].endswith(' 2')
    expected_val = [f'ILSVRC2012_val_{i + 1:08d}.JPEG {wnids.index(w)}'
                    for i, w in enumerate(truth)]
    assert (tmp_path / 'meta' / 'val.txt').read_text().splitlines() == expected_val
    # the devkit: ILSVRC2012_IDs in meta.mat order (kit fox first), which is not sorted order
    ids = {'n02119789': 1, 'n01440764': 2, 'n01443537': 3}
    synsets = np.array([(ids[w], w) for w in ['n02119789', 'n01440764', 'n01443537']],
                       dtype=[('ILSVRC2012_ID', 'O'), ('WNID', 'O')])
    savemat(tmp_path / 'meta.mat', {'synsets': synsets})
    gt = tmp_path / 'ILSVRC2012_validation_ground_truth.txt'
    gt.write_text(''.join(f'{ids[w]}\n' for w in truth))
    os.remove(tmp_path / 'meta' / 'val.txt')
    with pytest.raises(ValueError, match='--devkit-meta'):
        imagenet_meta.main([str(tmp_path), '--val-labels', str(gt)])
    imagenet_meta.main([str(tmp_path), '--val-labels', str(gt), '--devkit-meta',
                        str(tmp_path / 'meta.mat')])
    assert (tmp_path / 'meta' / 'val.txt').read_text().splitlines() == expected_val


@pytest.fixture(scope='module')
def folder_with_a_truncated_png(tmp_path_factory):
    root = tmp_path_factory.mktemp('bad_training')
    data = make_image_folder(str(root / 'data'), classes=2, per_class=8)
    bad = osp.join(data, 'train', 'class_1', '3.png')
    with open(bad, 'r+b') as f:
        f.truncate(200)
    teacher = random_teacher_checkpoint(load_config(osp.join(ROOT, MIMCO)).model.teacher,
                                        str(root / 'teacher.pth'))
    common = [f'train_dataloader.dataset.data_root={data}', f'model.teacher.checkpoint={teacher}',
              'train_dataloader.batch_size=4', 'train_cfg.max_epochs=1']
    return dict(root=root, bad=bad, common=common)


def test_a_bad_image_in_training_is_an_error_naming_it(folder_with_a_truncated_png):
    setup = folder_with_a_truncated_png
    with pytest.raises(BadImageError) as err:
        run_train(MIMCO, setup['root'] / 'strict', *setup['common'])
    assert setup['bad'] in str(err.value) and 'tools/data/check_dataset.py' in str(err.value)
    assert 'skip_bad_images=True' in str(err.value)


def test_a_bad_image_error_is_still_what_mmcv_raised(tmp_path):
    """Code that catches mmcv's own error around image loading still catches ours: a missing file
    is a FileNotFoundError (mmcv's test_load_img expects one), an undecodable one mmcv's
    AssertionError; both are BadImageError naming the file."""
    from mmcv.transforms import LoadImageFromFile
    missing = str(tmp_path / 'missing.jpg')
    with pytest.raises(FileNotFoundError) as err:
        LoadImageFromFile()(dict(img_path=missing))
    assert isinstance(err.value, BadImageError) and missing in str(err.value)
    garbage = tmp_path / 'garbage.jpg'
    garbage.write_bytes(b'not an image at all')
    with pytest.raises(AssertionError) as err:
        LoadImageFromFile()(dict(img_path=str(garbage)))
    assert isinstance(err.value, BadImageError) and str(garbage) in str(err.value)
    assert LoadImageFromFile(ignore_empty=True)(dict(img_path=missing)) is None  # upstream's


def test_skip_bad_images_opt_in_logs_the_file_and_trains_on(folder_with_a_truncated_png):
    setup = folder_with_a_truncated_png
    work = setup['root'] / 'skip'
    runner = run_train(MIMCO, work, *setup['common'],
                       'train_dataloader.dataset.pipeline.0.skip_bad_images=True')
    assert runner.iter == 4
    log = ''.join(open(osp.join(d, f)).read() for d, _, files in os.walk(work)
                  for f in files if f.endswith('.log'))
    assert f'skipping unreadable image {setup["bad"]}' in log


def test_zero_workers_with_persistent_workers_in_the_config():
    from mmengine.runner import Runner
    loader = Runner.build_dataloader(dict(
        dataset=list(range(8)), sampler=dict(type='DefaultSampler', shuffle=False), batch_size=4,
        num_workers=0, persistent_workers=True, prefetch_factor=1))
    assert list(loader) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(ValueError, match='persistent_workers'):  # PyTorch itself still refuses
        __import__('torch').utils.data.DataLoader(list(range(8)), num_workers=0,
                                                  persistent_workers=True)
    with pytest.raises(ValueError, match='prefetch_factor'):
        __import__('torch').utils.data.DataLoader(list(range(8)), num_workers=0,
                                                  prefetch_factor=1)


def test_imagenet_subset_keeps_the_classes_and_relabels_them_in_sorted_order(tmp_path):
    from tools.data import imagenet_subset
    shipped = imagenet_subset.read_wnids(imagenet_subset.SUBSETS['imagenet100'])
    assert len(shipped) == 100  # CMC's ImageNet-100: 100 distinct WordNet ids
    # a full ImageNet of 5 classes, 3 of them in ImageNet-100; flat val/ as imagenet_meta writes
    wnids = sorted(['n01558993', 'n02869837', 'n04592741', 'n01440764', 'n03000134'])
    assert [w in shipped for w in wnids] == [False, True, True, False, True]
    os.makedirs(tmp_path / 'meta')
    (tmp_path / 'meta' / 'train.txt').write_text(''.join(
        f'{w}/{w}_{i}.JPEG {label}\n' for label, w in enumerate(wnids) for i in range(2)))
    val_truth = [4, 0, 1, 3, 2, 4]
    (tmp_path / 'meta' / 'val.txt').write_text(''.join(
        f'ILSVRC2012_val_{i + 1:08d}.JPEG {label}\n' for i, label in enumerate(val_truth)))
    # ImageNet-100 needs all of its classes: 97 are missing here
    with pytest.raises(ValueError, match='97 classes of imagenet100 have no images'):
        imagenet_subset.main([str(tmp_path)])
    assert not (tmp_path / 'meta' / 'train_in100.txt').exists()
    # a list of the three (in another order), through the same code path
    kept = ['n01558993', 'n02869837', 'n04592741']  # sorted: the new labels 0, 1, 2
    classes = tmp_path / 'classes.txt'
    classes.write_text('# three of ImageNet-100\nn04592741\nn01558993\nn02869837\n')
    done = shell('tools/data/imagenet_subset.py', tmp_path, '--classes', classes, '--name', 'sub')
    assert done.returncode == 0, done.stdout + done.stderr
    train = (tmp_path / 'meta' / 'train_sub.txt').read_text().splitlines()
    assert train == [f'{w}/{w}_{i}.JPEG {kept.index(w)}' for w in kept for i in range(2)]
    val = (tmp_path / 'meta' / 'val_sub.txt').read_text().splitlines()
    assert val == [f'ILSVRC2012_val_{i + 1:08d}.JPEG {kept.index(wnids[label])}'
                   for i, label in enumerate(val_truth) if wnids[label] in kept]
    # mmpretrain's ImageNet dataset reads the labels as written
    from mmpretrain.datasets import ImageNet
    dataset = ImageNet(data_root=str(tmp_path), ann_file='meta/val_sub.txt', data_prefix='val',
                       pipeline=[], lazy_init=False)
    assert [dataset.get_data_info(i)['gt_label'] for i in range(len(dataset))] == \
        [int(line.split()[1]) for line in val]
    # a list naming a class the data lacks, and a malformed list, are errors naming them
    other = tmp_path / 'other.txt'
    other.write_text('n01558993\nn09999999\n')
    with pytest.raises(ValueError, match=r"n09999999"):
        imagenet_subset.main([str(tmp_path), '--classes', str(other), '--name', 'two'])
    other.write_text('n01558993\nnot_a_wnid\n')
    with pytest.raises(ValueError, match='not_a_wnid'):
        imagenet_subset.main([str(tmp_path), '--classes', str(other), '--name', 'two'])


@pytest.mark.parametrize('config', ['configs/mimco/vit-s_100e.py', 'configs/simmim/vit-s_100e.py',
                                    'configs/mocov3/vit-s_300e.py', 'configs/mocov3/vit-b_300e.py',
                                    'configs/moby/swin-t_300e.py', 'configs/mimco/swin-t_100e.py',
                                    'configs/benchmarks/vit-s_linear-90e_in1k.py'])
def test_the_preflight_reads_the_crop_of_every_pretraining_config(config):
    """The too-small check takes its minimum from the config's crop: also from our torch crop
    (TorchRandomResizedCrop, the pre-training configs' since 2026-11-29) and from crops inside
    MoCo v3's views. Both gave 0 before, which switched the check off without a word."""
    from tools._common import load_config
    assert check_dataset.crop_size(load_config(osp.join(ROOT, config)), 'train') == 224
