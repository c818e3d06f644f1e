"""Preflight a dataset before a long run: every file that would stop (or silently hurt) training.

    python tools/data/check_dataset.py CONFIG [--split train val] [--cfg-options k=v ...]
    python tools/data/check_dataset.py IMAGE_FOLDER [--min-size 224]
        [--workers N] [--ignore KIND ...] [--write-clean-list OUT] [--report FILE.json]

A config's datasets are built exactly as training builds them (so an annotation file is read
the same way); a folder is read in mmpretrain's CustomDataset layout (FOLDER/<class>/<image>).
Each image is opened by worker processes and reported under one kind:

  missing_file     an annotation entry whose file does not exist
  empty_file       zero bytes
  truncated        the decoder runs out of data (a partial download or copy)
  unreadable       not an image any decoder here reads
  wrong_extension  content and extension disagree (ImageNet's PNG named .JPEG)
  non_rgb          stored as CMYK, grayscale, palette, RGBA ... (decoders convert these, not
                   always alike; CMYK JPEGs are the known ImageNet case)
  too_small        shorter side below --min-size (from a config: its crop size)
  empty_class      a class without a single image

Exit status 1 when anything not in --ignore is found (0 otherwise). `--write-clean-list OUT`
writes an annotation file (`path label` per line, mmpretrain's format, paths relative to the
image folder) without the flagged entries. Images are never modified.
"""
import argparse
import json
import multiprocessing
import os
import os.path as osp
import sys
import time
from collections import Counter, defaultdict

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

KINDS = ('missing_file', 'empty_file', 'truncated', 'unreadable', 'wrong_extension', 'non_rgb',
         'too_small', 'empty_class')
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')
MAGIC = [(b'\xff\xd8\xff', 'jpeg'), (b'\x89PNG\r\n\x1a\n', 'png'), (b'GIF8', 'gif'),
         (b'BM', 'bmp'), (b'II*\x00', 'tiff'), (b'MM\x00*', 'tiff'), (b'P6', 'ppm'),
         (b'P5', 'pgm')]
EXTENSION_FORMAT = {'.jpg': 'jpeg', '.jpeg': 'jpeg', '.png': 'png', '.bmp': 'bmp', '.gif': 'gif',
                    '.tif': 'tiff', '.tiff': 'tiff', '.ppm': 'ppm', '.pgm': 'pgm',
                    '.webp': 'webp'}


def sniff_format(head):
    """Image format from the first bytes of a file, or None."""
    if head[:4] == b'RIFF' and head[8:12] == b'WEBP':
        return 'webp'
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    return None


def check_image(item):
    """Findings for one file: item = (path, min_size) -> (path, [(kind, detail), ...])."""
    path, min_size = item
    if not osp.isfile(path):
        return path, [('missing_file', 'no such file')]
    if osp.getsize(path) == 0:
        return path, [('empty_file', '0 bytes')]
    from PIL import Image
    findings = []
    with open(path, 'rb') as f:
        head = f.read(16)
    actual = sniff_format(head)
    expected = EXTENSION_FORMAT.get(osp.splitext(path)[1].lower())
    if actual and expected and actual != expected:
        findings.append(('wrong_extension', f'{actual.upper()} data in a '
                                            f'{osp.splitext(path)[1]} file'))
    try:
        with Image.open(path) as img:
            mode, size = img.mode, img.size
            img.load()  # decodes every byte: a short file raises here
    except OSError as err:
        text = str(err).lower()
        kind = 'truncated' if 'truncated' in text or 'broken data stream' in text \
            else 'unreadable'
        return path, findings + [(kind, str(err))]
    except Exception as err:  # PIL raises other types for some corrupt headers
        return path, findings + [('unreadable', f'{type(err).__name__}: {err}')]
    import cv2
    import numpy as np
    with open(path, 'rb') as f:
        decoded = cv2.imdecode(np.frombuffer(f.read(), np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:  # what mmcv's default backend sees
        findings.append(('unreadable', 'OpenCV cannot decode it'))
    if mode != 'RGB':
        findings.append(('non_rgb', f'mode {mode}'))
    if min_size and min(size) < min_size:
        findings.append(('too_small', f'{size[0]}x{size[1]} < {min_size}'))
    return path, findings


# ---- what to check ---------------------------------------------------------------------------

class Entry:
    """One annotation entry: file path, label, and the path relative to the image folder."""

    __slots__ = ('path', 'label', 'rel')

    def __init__(self, path, label, rel):
        self.path, self.label, self.rel = path, label, rel


def folder_entries(root):
    """CustomDataset layout: root/<class>/<image>; returns (entries, classes, root)."""
    classes = sorted(d for d in os.listdir(root) if osp.isdir(osp.join(root, d)))
    entries = []
    if not classes:
        files = sorted(f for f in os.listdir(root) if f.lower().endswith(IMAGE_EXTENSIONS))
        return [Entry(osp.join(root, f), -1, f) for f in files], [], root
    for label, name in enumerate(classes):
        for dirpath, _, files in sorted(os.walk(osp.join(root, name), followlinks=True)):
            for f in sorted(files):
                if f.lower().endswith(IMAGE_EXTENSIONS):
                    path = osp.join(dirpath, f)
                    entries.append(Entry(path, label, osp.relpath(path, root)))
    return entries, classes, root


def dataset_config(cfg, split):
    """The innermost dataset config of `{split}_dataloader` (RepeatDataset, ... unwrapped)."""
    loader = cfg.get(f'{split}_dataloader')
    if not loader:
        raise ValueError(f'{cfg.filename} has no {split}_dataloader')
    dataset_cfg = loader['dataset']
    while 'dataset' in dataset_cfg:
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg


def config_entries(cfg, split):
    """The entries of `{split}_dataloader.dataset` as training would build them."""
    import mimco_mm  # noqa: F401  registries and fixes
    from mmengine.registry import DATASETS, init_default_scope

    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    dataset_cfg = dict(dataset_config(cfg, split), lazy_init=True, pipeline=[])
    dataset = DATASETS.build(dataset_cfg)
    dataset.full_init()
    prefix = dataset.data_prefix.get('img_path', dataset.data_root) or ''
    classes = list(dataset.metainfo.get('classes') or [])
    entries = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        path = info['img_path']
        rel = osp.relpath(path, prefix) if prefix else path
        entries.append(Entry(path, int(info.get('gt_label', -1)), rel))
    return entries, classes, prefix


def crop_size(cfg, split):
    """The crop a config's pipeline takes (a random resized crop's scale, CenterCrop's
    crop_size), wherever it sits (MultiView's views included)."""
    from tools._common import RANDOM_RESIZED_CROPS, iter_transforms
    sizes = []
    for step in iter_transforms(dataset_config(cfg, split).get('pipeline')):
        if step.get('type') in RANDOM_RESIZED_CROPS + ('CenterCrop', 'RandomCrop'):
            size = step.get('scale', step.get('crop_size', step.get('size')))
            if size is not None:
                sizes.append(max(size) if isinstance(size, (tuple, list)) else size)
    return max(sizes) if sizes else 0


# ---- the check -------------------------------------------------------------------------------

def run_checks(entries, min_size, workers, progress=sys.stderr):
    """{path: [(kind, detail), ...]} for every entry with a finding, checked in `workers`
    processes with a progress line."""
    items = [(e.path, min_size) for e in entries]
    findings = {}
    start = time.monotonic()
    every = max(1, len(items) // 20)
    if workers > 1 and len(items) > 64:
        pool = multiprocessing.get_context('fork').Pool(workers)
        results = pool.imap_unordered(check_image, items, chunksize=32)
    else:
        pool, results = None, map(check_image, items)
    try:
        for done, (path, found) in enumerate(results, 1):
            if found:
                findings[path] = found
            if done % every == 0 or done == len(items):
                rate = done / max(time.monotonic() - start, 1e-6)
                print(f'[check_dataset] {done}/{len(items)} files, {len(findings)} flagged, '
                      f'{rate:.0f} files/s', file=progress, flush=True)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return findings


def empty_classes(entries, classes):
    counts = Counter(e.label for e in entries)
    return [name for label, name in enumerate(classes) if counts[label] == 0]


def write_clean_list(out, entries, flagged):
    from mimco_mm.compat.atomic_checkpoint import write_bytes_atomic
    lines = [f'{e.rel} {e.label}' for e in entries if e.path not in flagged]
    write_bytes_atomic(('\n'.join(lines) + '\n').encode(), out)
    return len(lines)


def parse_args(argv=None):
    from tools._common import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('target', help='a config file or an image folder')
    parser.add_argument('--split', nargs='+', default=['train'], choices=['train', 'val', 'test'],
                        help="a config's datasets to check (default: train)")
    parser.add_argument('--min-size', type=int, default=None,
                        help='flag images whose shorter side is smaller (default: the crop size '
                             'of a config, off for a folder)')
    parser.add_argument('--workers', type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument('--ignore', nargs='+', default=[], choices=KINDS,
                        help='kinds that do not make the exit status non-zero (still reported)')
    parser.add_argument('--write-clean-list', metavar='OUT',
                        help='annotation file without the flagged entries')
    parser.add_argument('--report', metavar='FILE', help='every finding as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None):
    """Returns the exit status (0: nothing outside --ignore found)."""
    args = parse_args(argv)
    if osp.isdir(args.target):
        parts = [('folder', *folder_entries(args.target), args.min_size or 0)]
    elif osp.isfile(args.target):
        from tools._common import load_config
        cfg = load_config(args.target, args.cfg_options)
        parts = []
        for split in args.split:
            entries, classes, prefix = config_entries(cfg, split)
            size = args.min_size if args.min_size is not None else crop_size(cfg, split)
            parts.append((split, entries, classes, prefix, size))
    else:
        raise FileNotFoundError(f'{args.target} is neither a config file nor a folder')
    if args.write_clean_list and len(parts) != 1:
        raise ValueError('--write-clean-list writes one annotation file: check one split')

    report, status = {}, 0
    for name, entries, classes, prefix, min_size in parts:
        print(f'[check_dataset] {name}: {len(entries)} files under {prefix}, {len(classes)} '
              f'classes{f", min size {min_size}" if min_size else ""}', file=sys.stderr)
        flagged = run_checks(entries, min_size, args.workers)
        by_kind = defaultdict(list)
        for path, found in sorted(flagged.items()):
            for kind, detail in found:
                by_kind[kind].append((path, detail))
        for cls in empty_classes(entries, classes):
            by_kind['empty_class'].append((cls, 'no images'))
        print(f'\n{name}: {len(entries)} files checked')
        for kind in KINDS:
            items = by_kind.get(kind, [])
            note = ' (ignored)' if kind in args.ignore else ''
            print(f'  {kind:16s} {len(items)}{note}')
            for path, detail in items[:20]:
                print(f'      {path}: {detail}')
            if len(items) > 20:
                print(f'      ... {len(items) - 20} more (--report FILE lists all)')
            if items and kind not in args.ignore:
                status = 1
        report[name] = {kind: [dict(path=p, detail=d) for p, d in items]
                        for kind, items in by_kind.items()}
        if args.write_clean_list:
            bad = {p for p, found in flagged.items()
                   if any(kind not in args.ignore for kind, _ in found)}
            kept = write_clean_list(args.write_clean_list, entries, bad)
            print(f'wrote {args.write_clean_list}: {kept} of {len(entries)} entries '
                  f'(paths relative to {prefix}); point the dataset\'s ann_file at it')
    if args.report:
        from mimco_mm.compat.atomic_checkpoint import write_bytes_atomic
        write_bytes_atomic(json.dumps(report, indent=1).encode(), args.report)
    print('\nOK: nothing to fix' if status == 0 else
          '\nFOUND problems: fix or remove these files, or train on --write-clean-list\'s list')
    return status


if __name__ == '__main__':
    sys.exit(main())
