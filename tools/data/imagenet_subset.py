"""Write the annotation files of an ImageNet class subset (ImageNet-100 by default) from
mmpretrain's full ImageNet ones, for small-budget runs of every config (docs/pretrain.md "Other lengths, and ImageNet-100").

    python tools/data/imagenet_subset.py data/imagenet [--classes imagenet100 | FILE]
        [--name in100]

Reads DATA_ROOT/meta/train.txt and meta/val.txt (`relative/path label`, as
tools/data/imagenet_meta.py writes them) and writes meta/train_<name>.txt and meta/val_<name>.txt
with only the subset's images. Labels become the index of the class's WordNet id in sorted
order, which is the order an ImageFolder of the subset would give. A validation line has no
WordNet id in its path when val/ is flat; its class is read from train.txt, where each label's
images sit in that class's folder.

`--classes imagenet100` (the default) is the ImageNet-100 of Tian et al., "Contrastive Multiview
Coding" (ECCV 2020), as listed in github.com/HobbitLong/CMC imagenet100.txt and used by most
ImageNet-100 results since (tools/data/imagenet100.txt, the same 100 WordNet ids). FILE is any
list of WordNet ids, one per line.
"""
import argparse
import os.path as osp
import re
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from tools.data.imagenet_meta import WNID, write_lines  # noqa: E402

SUBSETS = {'imagenet100': osp.join(osp.dirname(osp.abspath(__file__)), 'imagenet100.txt')}


def read_wnids(path):
    with open(path) as f:
        wnids = [line.strip() for line in f if line.strip() and not line.startswith('#')]
    bad = [w for w in wnids if not WNID.match(w)]
    if bad or not wnids:
        raise ValueError(f'{path}: expected one WordNet id (n + 8 digits) per line; '
                         f'{"bad: " + str(bad[:5]) if bad else "it is empty"}')
    if len(set(wnids)) != len(wnids):
        raise ValueError(f'{path}: WordNet ids listed twice: '
                         f'{sorted({w for w in wnids if wnids.count(w) > 1})[:5]}')
    return wnids


def read_annotations(path):
    """[(relative path, label)] of an mmpretrain annotation file."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} does not exist: write it with '
                                f'tools/data/imagenet_meta.py first')
    entries = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rsplit(maxsplit=1)
            if len(parts) != 2 or not re.fullmatch(r'\d+', parts[1]):
                raise ValueError(f'{path}:{number}: expected "relative/path label", got '
                                 f'{line.strip()!r}')
            entries.append((parts[0], int(parts[1])))
    return entries


def folder_wnid(path):
    """The WordNet id a relative path sits under, or None (a flat val/ file)."""
    head = path.split('/', 1)[0]
    return head if '/' in path and WNID.match(head) else None


def label_to_wnid(train, source):
    """{label: wnid} from the train entries' class folders; every label must have one."""
    mapping = {}
    for path, label in train:
        wnid = folder_wnid(path)
        if wnid is None:
            raise ValueError(f'{source}: {path} is not inside a WordNet-id folder')
        if mapping.setdefault(label, wnid) != wnid:
            raise ValueError(f'{source}: label {label} is used for both {mapping[label]} and '
                             f'{wnid}')
    return mapping


def build(root, classes='imagenet100', name='in100'):
    """Write root/meta/{train,val}_<name>.txt; returns {split: (path, lines)}."""
    wnids = read_wnids(SUBSETS.get(classes, classes))
    new_label = {w: i for i, w in enumerate(sorted(wnids))}
    meta = osp.join(root, 'meta')
    train = read_annotations(osp.join(meta, 'train.txt'))
    to_wnid = label_to_wnid(train, osp.join(meta, 'train.txt'))
    missing = sorted(set(wnids) - set(to_wnid.values()))
    if missing:
        raise ValueError(f'{len(missing)} classes of {classes} have no images in '
                         f'{osp.join(meta, "train.txt")}: {missing[:5]}')
    written = {}
    for split in ('train', 'val'):
        source = osp.join(meta, f'{split}.txt')
        if split == 'val' and not osp.isfile(source):
            continue
        entries = train if split == 'train' else read_annotations(source)
        lines = []
        for path, label in entries:
            wnid = folder_wnid(path) or to_wnid.get(label)
            if wnid is None:
                raise ValueError(f'{source}: label {label} of {path} is not a class of train.txt')
            if wnid in new_label:
                lines.append(f'{path} {new_label[wnid]}')
        target = osp.join(meta, f'{split}_{name}.txt')
        write_lines(target, lines)
        written[split] = (target, len(lines))
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('root', help='ImageNet root with meta/train.txt (and meta/val.txt)')
    parser.add_argument('--classes', default='imagenet100',
                        help='imagenet100 (CMC\'s list) or a file of WordNet ids')
    parser.add_argument('--name', default='in100', help='suffix of the files written')
    args = parser.parse_args(argv)
    for split, (path, count) in build(args.root, args.classes, args.name).items():
        print(f'wrote {path}: {count} images')
    return 0


if __name__ == '__main__':
    sys.exit(main())
