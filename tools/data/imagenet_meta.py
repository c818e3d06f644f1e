"""Write mmpretrain's ImageNet annotation files from the official ILSVRC-2012 layout.

    python tools/data/imagenet_meta.py data/imagenet \
        [--val-labels LOC_val_solution.csv | --val-labels ILSVRC2012_validation_ground_truth.txt
         --devkit-meta ILSVRC2012_devkit_t12/data/meta.mat]

Expects DATA_ROOT/train/<wnid>/<image>.JPEG (as ILSVRC2012_img_train.tar unpacks) and either a flat
DATA_ROOT/val/ILSVRC2012_val_XXXXXXXX.JPEG with a label file, or val/<wnid>/ folders. Writes
DATA_ROOT/meta/train.txt and meta/val.txt (`relative/path label` per line), labels being the
index of the wnid in sorted order, which is mmpretrain's ImageNet class order.

Validation labels come from Kaggle's LOC_val_solution.csv (first wnid of each row), or from the
devkit's ground-truth file, whose numbers are ILSVRC2012_IDs (NOT the sorted order): they are
mapped to wnids through the devkit's meta.mat.
"""
import argparse
import csv
import os
import os.path as osp
import re
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

WNID = re.compile(r'^n\d{8}$')
IMAGE_EXTENSIONS = ('.jpeg', '.jpg', '.png')


def list_images(folder):
    return sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))


def train_classes(train_dir):
    wnids = sorted(d for d in os.listdir(train_dir) if osp.isdir(osp.join(train_dir, d)))
    bad = [d for d in wnids if not WNID.match(d)]
    if bad:
        raise ValueError(f'{train_dir}: folders that are not WordNet ids: {bad[:5]}')
    if not wnids:
        raise ValueError(f'{train_dir} has no class folders')
    return wnids


def labels_from_solution_csv(path):
    """{image id: wnid} from LOC_val_solution.csv (ImageId,PredictionString)."""
    with open(path, newline='') as f:
        rows = csv.DictReader(f)
        if not {'ImageId', 'PredictionString'} <= set(rows.fieldnames or ()):
            raise ValueError(f'{path}: expected columns ImageId,PredictionString, got '
                             f'{rows.fieldnames}')
        return {row['ImageId']: row['PredictionString'].split()[0] for row in rows}


def ilsvrc_id_to_wnid(meta_mat):
    """{ILSVRC2012_ID: wnid} from the devkit's data/meta.mat."""
    try:
        from scipy.io import loadmat
    except ImportError:
        raise ImportError('reading meta.mat needs scipy (pip install scipy); or use Kaggle\'s '
                          'LOC_val_solution.csv with --val-labels') from None
    synsets = loadmat(meta_mat, squeeze_me=True)['synsets']
    return {int(s['ILSVRC2012_ID']): str(s['WNID']) for s in synsets}


def labels_from_ground_truth(path, meta_mat, images):
    """{image id: wnid}: line i of the ground-truth file is the ILSVRC2012_ID of the i-th image in
    sorted order (ILSVRC2012_val_00000001 ...)."""
    if not meta_mat:
        raise ValueError(f'{path} holds ILSVRC2012_IDs, which are not the class order: pass the '
                         f'devkit\'s meta.mat with --devkit-meta')
    to_wnid = ilsvrc_id_to_wnid(meta_mat)
    with open(path) as f:
        ids = [int(line) for line in f if line.strip()]
    stems = [osp.splitext(name)[0] for name in images]
    if len(ids) != len(stems):
        raise ValueError(f'{path} has {len(ids)} labels for {len(stems)} validation images')
    return {stem: to_wnid[i] for stem, i in zip(stems, ids)}


def write_lines(path, lines):
    from mimco_mm.compat.atomic_checkpoint import write_bytes_atomic
    write_bytes_atomic(('\n'.join(lines) + '\n').encode(), path)


def build(root, val_labels=None, devkit_meta=None):
    """Write root/meta/{train,val}.txt; returns {split: number of lines}."""
    train_dir, val_dir = osp.join(root, 'train'), osp.join(root, 'val')
    wnids = train_classes(train_dir)
    label = {w: i for i, w in enumerate(wnids)}
    train = [f'{w}/{name} {label[w]}' for w in wnids for name in
             list_images(osp.join(train_dir, w))]
    counts = {'train': len(train)}
    write_lines(osp.join(root, 'meta', 'train.txt'), train)
    if osp.isdir(val_dir):
        sub = sorted(d for d in os.listdir(val_dir) if osp.isdir(osp.join(val_dir, d)))
        if sub:  # already sorted into class folders
            val = [f'{w}/{name} {label[w]}' for w in sub for name in
                   list_images(osp.join(val_dir, w))]
        else:
            images = list_images(val_dir)
            if not val_labels:
                raise ValueError(f'{val_dir} is flat: pass --val-labels (LOC_val_solution.csv '
                                 f'or ILSVRC2012_validation_ground_truth.txt)')
            if val_labels.endswith('.csv'):
                truth = labels_from_solution_csv(val_labels)
            else:
                truth = labels_from_ground_truth(val_labels, devkit_meta, images)
            missing = [n for n in images if osp.splitext(n)[0] not in truth]
            if missing:
                raise ValueError(f'{val_labels} has no label for {len(missing)} images, e.g. '
                                 f'{missing[:3]}')
            unknown = sorted({truth[osp.splitext(n)[0]] for n in images} - set(label))
            if unknown:
                raise ValueError(f'validation labels name classes with no train folder: '
                                 f'{unknown[:5]}')
            val = [f'{name} {label[truth[osp.splitext(name)[0]]]}' for name in images]
        write_lines(osp.join(root, 'meta', 'val.txt'), val)
        counts['val'] = len(val)
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('root', help='ImageNet root with train/ and val/')
    parser.add_argument('--val-labels', help='LOC_val_solution.csv or the devkit ground truth')
    parser.add_argument('--devkit-meta', help="the devkit's data/meta.mat (with the .txt labels)")
    args = parser.parse_args(argv)
    counts = build(args.root, args.val_labels, args.devkit_meta)
    for split, n in counts.items():
        print(f'wrote {osp.join(args.root, "meta", split + ".txt")}: {n} images')
    return 0


if __name__ == '__main__':
    sys.exit(main())
