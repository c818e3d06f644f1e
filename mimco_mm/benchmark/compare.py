"""Compare a training run with a reference run: its curves and where it came from.

A reproduction that ends 0.5 points short is hard to diagnose from the final number; its loss
curve usually leaves the reference's early, and the provenance says why (another effective batch,
lr, data, seed). `tools/analysis_tools/compare_runs.py` is the command; this module reads runs and
measures the deviation.

A run is read from a work dir (every `vis_data/scalars.json` under it, resumes continuing the
curve as in the demo plots, and the provenance of its newest checkpoint), a `scalars.json` file,
or MMEngine's text log (`*.log`, or the stdout of tools/train.py), whose per-epoch iteration
counters are turned into global iterations.
"""
import json
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

import numpy as np

from .details import FIELDS, _get
from .plots import curve, read_runs

# provenance columns that change the numbers (the rest describe the environment)
RECIPE_FIELDS = ('batch_effective', 'batch_per_device', 'device_count', 'lr_configured',
                 'lr_after_scaling', 'max_epochs', 'max_iters', 'seed', 'config_sha256',
                 'data_samples', 'data_sha256')
IGNORED_FIELDS = ('wall_s', 'wall_s_all_sessions', 'git_commit', 'git_dirty')

_TRAIN_LINE = re.compile(r'(Epoch|Iter)\(train\)\s*(?:\[(\d+)\])?\s*\[\s*(\d+)/(\d+)\]\s+(.*)$')
_VALUE = re.compile(r'([\w/.-]+):\s+(-?[\d.]+(?:e[-+]?\d+)?|nan|inf|-inf)(?=\s|$)')


class Run:
    """curves: {key: [(iteration, value), ...]}; provenance: the training record or None."""

    def __init__(self, source: str, curves: Dict[str, List[Tuple[int, float]]],
                 provenance: Optional[dict] = None):
        self.source = source
        self.curves = curves
        self.provenance = provenance

    def effective_batch(self):
        return _get(self.provenance or {}, ('batch', 'effective'))


def parse_text_log(lines) -> List[dict]:
    """MMEngine's training lines (`Epoch(train) [e][i/n] key: value ...` or
    `Iter(train) [i/n] ...`) as scalars.json-like rows with a global `iter`."""
    rows = []
    for line in lines:
        match = _TRAIN_LINE.search(line)
        if not match:
            continue
        kind, epoch, index, per_epoch, rest = match.groups()
        iteration = int(index)
        if kind == 'Epoch':
            iteration += (int(epoch) - 1) * int(per_epoch)
        row = {key: float(value) for key, value in _VALUE.findall(rest)}
        row['iter'] = iteration
        rows.append(row)
    return rows


def _curves(runs: List[List[dict]]) -> Dict[str, List[Tuple[int, float]]]:
    keys = sorted({k for run in runs for row in run for k in row} - {'iter', 'step', 'epoch'})
    return {key: curve(runs, key) for key in keys}


def newest_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint `last_checkpoint` names, else the newest complete one (as resume finds it,
    without resume's log lines)."""
    from mimco_mm.compat.atomic_checkpoint import newest_complete_checkpoint
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.exists(pointer):
        with open(pointer) as f:
            path = f.read().strip()
        if path and osp.isfile(path):
            return path
    return newest_complete_checkpoint(work_dir)


def load_run(path: str) -> Run:
    """A Run from a work dir, a scalars.json or a text log. Errors name the path."""
    if osp.isdir(path):
        runs = read_runs(path)
        if not runs:
            raise FileNotFoundError(f'{path}: no vis_data/scalars.json below it (not a work dir '
                                    f'of tools/train.py?)')
        provenance = None
        checkpoint = newest_checkpoint(path)
        if checkpoint is not None:
            from mimco_mm.compat import load_checkpoint_file
            provenance = (load_checkpoint_file(checkpoint).get('meta') or {}).get('provenance')
        return Run(path, _curves(runs), provenance)
    if not osp.exists(path):
        raise FileNotFoundError(f'{path}: no such run (a work dir, a scalars.json or a .log)')
    with open(path) as f:
        if path.endswith('.json'):
            try:
                rows = [json.loads(line) for line in f if line.strip()]
            except json.JSONDecodeError as err:
                raise ValueError(f'{path}: not a scalars.json (one JSON object per line): '
                                 f'{err}') from None
        else:
            rows = parse_text_log(f)
    if not rows:
        raise ValueError(f'{path}: no training lines found')
    return Run(path, _curves([rows]))


def running_median(values: np.ndarray, window: int) -> np.ndarray:
    """Centred running median of the finite values, the window narrowed symmetrically at the
    ends (so a smooth curve stays where it is): one noisy log window does not make a deviation,
    and a NaN does not spread to its neighbours (compare_curve flags it at its own point). NaN
    where a window holds no finite value."""
    n = len(values)
    out = np.full(n, np.nan)
    for i in range(n):
        half = min(window // 2, i, n - 1 - i)
        part = values[i - half:i + half + 1]
        part = part[np.isfinite(part)]
        if len(part):
            out[i] = np.median(part)
    return out


def compare_curve(run: List[Tuple[int, float]], ref: List[Tuple[int, float]], rtol: float,
                  window: int = 5, scale: Tuple[float, float] = (1.0, 1.0)) -> Optional[dict]:
    """Deviation of `run` from `ref` where both were logged.

    Args:
        run, ref: [(iteration, value)].
        scale: x multipliers (run, reference): the effective batches, to align by images seen.
    Returns:
        None when the x ranges do not overlap, else dict(points, max_rel, mean_rel,
        first_over (x of the first point above rtol, or None), x_max (largest such deviation),
        run_last, ref_last (values at the last common x)).
    """
    x_run = np.array([p[0] for p in run], dtype=float) * scale[0]
    x_ref = np.array([p[0] for p in ref], dtype=float) * scale[1]
    raw_run = np.array([p[1] for p in run], dtype=float)
    y_run = running_median(raw_run, window)
    y_ref = running_median(np.array([p[1] for p in ref], dtype=float), window)
    inside = (x_run >= x_ref.min()) & (x_run <= x_ref.max())
    if not inside.any():
        return None
    x, y = x_run[inside], y_run[inside]
    finite_ref = np.isfinite(y_ref)
    expected = np.interp(x, x_ref[finite_ref], y_ref[finite_ref])
    rel = np.abs(y - expected) / np.maximum(np.abs(expected), 1e-8)
    # a non-finite logged value is an infinite deviation, at its own point
    rel = np.where(np.isfinite(rel) & np.isfinite(raw_run[inside]), rel, np.inf)
    over = np.nonzero(rel > rtol)[0]
    return dict(points=int(inside.sum()), max_rel=float(rel.max()), mean_rel=float(rel.mean()),
                first_over=float(x[over[0]]) if len(over) else None,
                x_max=float(x[int(np.argmax(rel))]), run_last=float(y[-1]),
                ref_last=float(expected[-1]))


def _differing_fields(records: List[dict]):
    """(column, [its value in each record]) for every compared provenance column (tools/
    benchmark.py --details; not wall time or commit) whose values are not all equal."""
    for column, path in FIELDS:
        if column in IGNORED_FIELDS:
            continue
        values = [_get(record, path) for record in records]
        if any(value != values[0] for value in values[1:]):
            yield column, values


def provenance_differences(run: Optional[dict], ref: Optional[dict]) -> List[dict]:
    """[{field, run, reference, recipe (True when it changes the numbers)}] for every
    provenance column (tools/benchmark.py --details) whose values differ."""
    if not run or not ref:
        return []
    return [dict(field=column, run=a, reference=b, recipe=column in RECIPE_FIELDS)
            for column, (a, b) in _differing_fields([run, ref])]


def session_differences(record: Optional[dict]) -> List[dict]:
    """[{field, sessions: [(started_at_iter, value), ...], recipe}] for every provenance column
    whose value changed between the sessions of one resumed run (ProvenanceHook's
    `earlier_sessions`, oldest first, then the record's own); [] for a run in one session."""
    if not record or not record.get('earlier_sessions'):
        return []
    sessions = [*record['earlier_sessions'], record]
    return [dict(field=column, recipe=column in RECIPE_FIELDS,
                 sessions=[(s.get('started_at_iter'), v) for s, v in zip(sessions, values)])
            for column, values in _differing_fields(sessions)]


def compare_runs(run: Run, ref: Run, keys=None, rtol=0.05, window=5, by='iter') -> dict:
    """Everything compare_runs.py prints. `by` 'iter' or 'images' (iteration x effective batch,
    for runs on different numbers of GPUs). `keys` default: the `loss*` keys both logged."""
    scale = (1.0, 1.0)
    if by == 'images':
        scale = (run.effective_batch(), ref.effective_batch())
        if None in scale:
            missing = run.source if scale[0] is None else ref.source
            raise ValueError(f'--by images needs the effective batch, which {missing} does not '
                             f'record (a work dir with a checkpoint written by tools/train.py '
                             f'does)')
        for side in (run, ref):
            changed = [d for d in session_differences(side.provenance)
                       if d['field'] == 'batch_effective']
            if changed:
                raise ValueError(f'--by images: {side.source} was resumed with another effective '
                                 f'batch ({sessions_text(changed[0])}), so images seen are not '
                                 f'iterations x one batch; compare --by iter')
    elif by != 'iter':
        raise ValueError(f"by must be 'iter' or 'images', got {by!r}")
    common = sorted(set(run.curves) & set(ref.curves))
    keys = list(keys) if keys else [k for k in common if k.startswith('loss')]
    missing = [k for k in keys if k not in common]
    if missing:
        raise KeyError(f'{missing} not logged by both runs; both have: {common}')
    results = {}
    for key in keys:
        result = compare_curve(run.curves[key], ref.curves[key], rtol, window, scale)
        if result is None:
            raise ValueError(f'{key}: the runs share no {by} range (run {run.source}, '
                             f'reference {ref.source})')
        results[key] = result
    return dict(run=run.source, reference=ref.source, by=by, rtol=rtol, window=window,
                curves=results, within=all(r['max_rel'] <= rtol for r in results.values()),
                provenance=provenance_differences(run.provenance, ref.provenance),
                sessions=dict(run=session_differences(run.provenance),
                              reference=session_differences(ref.provenance)))


def sessions_text(difference: dict) -> str:
    """'2048 from iteration 0, 1024 from iteration 5000' (a sha256 by its first 12 digits)."""
    return ', '.join(f'{value[:12] if isinstance(value, str) and len(value) == 64 else value} '
                     f'from iteration {start}' for start, value in difference['sessions'])
