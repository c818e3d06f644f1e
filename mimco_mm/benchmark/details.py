"""`tools/benchmark.py --details`: one CSV row per metrics file with where its number came from
(the evaluation's provenance and, under `trained_*`, that of the evaluated checkpoint)."""
import csv
import io

from mimco_mm.compat.atomic_checkpoint import write_bytes_atomic

FIELDS = [  # (column, path in a provenance record)
    ('git_commit', ('git_commit', )), ('git_dirty', ('git_dirty', )),
    ('device', ('devices', 'type')), ('device_name', ('devices', 'name')),
    ('device_count', ('devices', 'count')),
    ('batch_per_device', ('batch', 'per_device')), ('batch_effective', ('batch', 'effective')),
    ('lr_configured', ('lr', 'configured')), ('lr_after_scaling', ('lr', 'after_scaling')),
    ('max_epochs', ('epochs_or_iters', 'max_epochs')),
    ('max_iters', ('epochs_or_iters', 'max_iters')), ('seed', ('seed', )),
    ('config_sha256', ('config_sha256', )), ('data_samples', ('data', 'num_samples')),
    ('data_sha256', ('data', 'sha256')), ('wall_s', ('wall_s', )),
    ('wall_s_all_sessions', ('wall_s_all_sessions', )),
    ('torch', ('versions', 'torch')), ('mmengine', ('versions', 'mmengine')),
    ('mmpretrain', ('versions', 'mmpretrain')), ('mimco_mm', ('versions', 'mimco_mm')),
]


def _get(record, path):
    for key in path:
        if not isinstance(record, dict):
            return None
        record = record.get(key)
    return record


def detail_rows(runs):
    """[{run, task, config, checkpoint, metric: value ..., provenance columns ...}]."""
    rows = []
    for run, tasks in sorted(runs.items()):
        for task, record in sorted(tasks.items()):
            provenance = record.get('provenance') or {}
            row = dict(run=run, task=task, config=record.get('config'),
                       checkpoint=record.get('checkpoint'),
                       has_provenance=bool(provenance))
            row.update({f'metric:{k}': v for k, v in sorted(record['metrics'].items())})
            for column, path in FIELDS:
                row[column] = _get(provenance, path)
                row['trained_' + column] = _get(provenance.get('checkpoint') or {}, path)
            rows.append(row)
    return rows


def write_details(path, runs):
    rows = detail_rows(runs)
    columns = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    f = io.StringIO(newline='')
    writer = csv.DictWriter(f, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_bytes_atomic(f.getvalue().encode(), path)
    return rows
