"""Collect downstream metrics from work_dirs and write the paper-form tables (markdown, CSV)."""
import csv
import glob
import io
import json
import os.path as osp
from typing import Dict, List

from mimco_mm.compat.atomic_checkpoint import write_bytes_atomic

from .compare import session_differences, sessions_text
from .published import PUBLISHED

# (column key, header, task folder, metric key, scale to percent)
COLUMNS = [
    # fine-tune: our MAE-recipe configs (published rows say which recipe theirs used), and
    # iBOT's recipe in a column of its own
    ('ft', 'IN-1K fine-tune top-1', 'ft', 'accuracy/top1', 1),
    ('ft_ibot', 'IN-1K fine-tune top-1 (iBOT recipe)', 'ft_ibot', 'accuracy/top1', 1),
    ('linear', 'linear top-1', 'linear', 'accuracy/top1', 1),
    ('knn', 'k-NN top-1 (k=20)', 'knn', 'knn/top1_k20', 1),
    # tools/knn.py's logistic regression on the same features (CLIP's L-BFGS probe, no
    # augmentation): no published row has it, and it is not the `linear` protocol
    ('logreg', 'log. regression top-1', 'knn', 'logreg/top1', 1),
    ('recall', 'Recall@1', 'recall', 'retrieval/recall@1', 1),
    ('coco_box', 'COCO AP box', 'coco', 'coco/bbox_mAP', 100),
    ('coco_mask', 'COCO AP mask', 'coco', 'coco/segm_mAP', 100),
    # iBOT's protocol (Cascade Mask R-CNN, 4conv1f GIoU heads, batch 32, layer decay 0.8): its own
    # columns, so that rows of the two detectors are never read as one comparison
    ('cascade_box', 'COCO Cascade AP box', 'coco_cascade', 'coco/bbox_mAP', 100),
    ('cascade_mask', 'COCO Cascade AP mask', 'coco_cascade', 'coco/segm_mAP', 100),
    # Swin-T: Mask R-CNN 1x with multi-scale training and crops (MoBY's / Swin's 1x protocol)
    # and 3x, each beside mmdet's single-scale 1x of the COCO AP columns
    ('coco1x_ms_box', 'COCO ms-crop 1x AP box', 'coco1x_ms', 'coco/bbox_mAP', 100),
    ('coco1x_ms_mask', 'COCO ms-crop 1x AP mask', 'coco1x_ms', 'coco/segm_mAP', 100),
    ('coco3x_box', 'COCO 3x AP box', 'coco3x', 'coco/bbox_mAP', 100),
    ('coco3x_mask', 'COCO 3x AP mask', 'coco3x', 'coco/segm_mAP', 100),
    ('ade', 'ADE20K mIoU', 'ade', 'mIoU', 1),
    # retrieval, one column per protocol: DINO's Oxford setting (224 px, one scale) and iBOT's
    # (512 px, three scales); Paris is 512 px, three scales in both
    ('roxford_m', 'ROxf M (DINO)', 'roxford', 'retrieval/mAP_medium', 1),
    ('roxford_h', 'ROxf H (DINO)', 'roxford', 'retrieval/mAP_hard', 1),
    ('roxford_ibot_m', 'ROxf M (iBOT)', 'roxford_ibot', 'retrieval/mAP_medium', 1),
    ('roxford_ibot_h', 'ROxf H (iBOT)', 'roxford_ibot', 'retrieval/mAP_hard', 1),
    ('rparis_m', 'RPar M', 'rparis', 'retrieval/mAP_medium', 1),
    ('rparis_h', 'RPar H', 'rparis', 'retrieval/mAP_hard', 1),
]
MISSING = '–'

# What each trained downstream protocol prescribes (configs/benchmarks, docs/transfer.md): a run that used
# a shorter schedule is marked in its row, so that it is never read as the published protocol.
PROTOCOL_SCHEDULE = {'ft': ('max_epochs', {'ViT-S/16': 200, 'ViT-B/16': 100}),
                     'ft_ibot': ('max_epochs', 200),
                     'linear': ('max_epochs', 90), 'coco': ('max_epochs', 12),
                     'coco_cascade': ('max_epochs', 12), 'coco1x_ms': ('max_epochs', 12),
                     'coco3x': ('max_epochs', 36),
                     'ade': ('max_iters', 160000)}


def collect(root: str) -> Dict[str, Dict[str, dict]]:
    """{run name: {task: record}} from root/<run>/<task>/metrics.json.

    A file that is not valid JSON or lacks `metrics` is an error naming it (a silently skipped
    run would make a table look complete when it is not).
    """
    runs: Dict[str, Dict[str, dict]] = {}
    for path in sorted(glob.glob(osp.join(root, '*', '*', 'metrics.json'))):
        task = osp.basename(osp.dirname(path))
        run = osp.basename(osp.dirname(osp.dirname(path)))
        try:
            with open(path) as f:
                record = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'{path} is not valid JSON: {err}') from None
        if not isinstance(record, dict) or not isinstance(record.get('metrics'), dict):
            raise ValueError(f'{path} has no "metrics" object')
        runs.setdefault(run, {})[task] = record
    return runs


def deviations(task: str, record: dict, arch: str) -> List[str]:
    """How a result's run departs from its protocol, from the provenance of the checkpoint it
    evaluated (how that checkpoint was trained): a batch other than the recipe's without lr
    scaling, a shorter schedule. A result without provenance says so."""
    provenance = record.get('provenance')
    if not provenance:
        return [f'{task}: no provenance (written before it was recorded)']
    trained = provenance.get('checkpoint') or {}
    if task not in PROTOCOL_SCHEDULE:
        return []
    notes = []
    # a resumed run: every session's batch counts, and so does a recipe value that changed
    for session in [*(trained.get('earlier_sessions') or []), trained]:
        batch = session.get('batch') or {}
        base, effective = batch.get('base_batch_size'), batch.get('effective')
        note = f'{task}: batch {effective} instead of the recipe\'s {base}, lr not rescaled'
        if base and effective and effective != base and not batch.get('auto_scale_lr') and \
                note not in notes:
            notes.append(note)
    notes += [f'{task}: resumed with another {d["field"]} ({sessions_text(d)})'
              for d in session_differences(trained) if d['recipe']]
    key, wanted = PROTOCOL_SCHEDULE[task]
    wanted = wanted.get(arch) if isinstance(wanted, dict) else wanted
    ran = (trained.get('epochs_or_iters') or {}).get(key)
    if wanted and ran is not None and ran < wanted:
        unit = 'epochs' if key == 'max_epochs' else 'iterations'
        notes.append(f'{task}: {ran} of the protocol\'s {wanted} {unit}')
    return notes


FROZEN_TASKS = ('knn', 'recall', 'roxford', 'roxford_ibot', 'rparis')


def pretraining_epochs(tasks: Dict[str, dict]) -> str:
    """The pre-training epochs of the evaluated checkpoint, from the provenance that frozen-feature
    metrics carry (the pre-trained checkpoint's own record under provenance.checkpoint; a trained
    task's record describes its fine-tuned checkpoint instead); '' when none records it."""
    found = set()
    for task, record in tasks.items():
        if task not in FROZEN_TASKS:
            continue
        trained = ((record.get('provenance') or {}).get('checkpoint') or {})
        epochs = (trained.get('epochs_or_iters') or {}).get('max_epochs')
        if epochs is not None:
            found.add(str(epochs))
    return ' / '.join(sorted(found, key=int))


def run_row(name: str, tasks: Dict[str, dict], arch: str = '') -> dict:
    notes = [n for task, record in sorted(tasks.items())
             for n in deviations(task, record, arch)]
    row = dict(method=name, epochs=pretraining_epochs(tasks),
               source='this repo: ' + ', '.join(sorted(tasks)) + (
        '; NOT the protocol: ' + '; '.join(notes) if notes else ''))
    for key, _, task, metric, scale in COLUMNS:
        value = tasks.get(task, {}).get('metrics', {}).get(metric)
        if value is not None:
            row[key] = float(value) * scale
    return row


def _cell(value):
    return MISSING if value is None else f'{value:.2f}'


def to_markdown(title: str, rows: List[dict], columns=None) -> str:
    """A markdown table; by default with the columns at least one row has a value for."""
    if columns is None:
        columns = [c[0] for c in COLUMNS if any(row.get(c[0]) is not None for row in rows)]
    columns = [c for c in COLUMNS if c[0] in columns]
    head = ['method', 'epochs'] + [c[1] for c in columns] + ['source']
    lines = [f'### {title}', '', '| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    for row in rows:
        cells = [row['method'], row.get('epochs') or MISSING] + \
            [_cell(row.get(c[0])) for c in columns] + [row.get('source', '')]
        lines.append('| ' + ' | '.join(str(c) for c in cells) + ' |')
    return '\n'.join(lines) + '\n'


def write_csv(path: str, tables: Dict[str, List[dict]]) -> None:
    keys = [c[0] for c in COLUMNS]
    f = io.StringIO(newline='')
    writer = csv.writer(f)
    writer.writerow(['table', 'method', 'epochs'] + keys + ['source'])
    for title, rows in tables.items():
        for row in rows:
            writer.writerow([title, row['method'], row.get('epochs', '')] +
                            ['' if row.get(k) is None else f'{row[k]:.4f}' for k in keys] +
                            [row.get('source', '')])
    write_bytes_atomic(f.getvalue().encode(), path)


def arch_of(run_name: str, tasks: Dict[str, dict]) -> str:
    """The table a run belongs in, from its name or its configs' names."""
    text = run_name + ' ' + ' '.join(r.get('config', '') for r in tasks.values())
    if 'vit-b' in text:
        return 'ViT-B/16'
    if 'vit-s' in text:
        return 'ViT-S/16'
    if 'swin-t' in text:
        return 'Swin-T'
    return 'other'


def build_tables(runs: Dict[str, Dict[str, dict]], published: bool = True,
                 title: str = None) -> Dict[str, List[dict]]:
    """One table per architecture: our runs, then the published rows for that architecture."""
    tables: Dict[str, List[dict]] = {}
    for name, tasks in runs.items():
        key = title or arch_of(name, tasks)
        tables.setdefault(key, []).append(run_row(name, tasks, arch_of(name, tasks)))
    if published:
        for arch, rows in PUBLISHED.items():
            tables.setdefault(arch, []).extend(dict(r) for r in rows)
    return tables
