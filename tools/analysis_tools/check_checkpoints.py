"""Which checkpoints of a run are intact, and which can continue it: before archiving a run,
after copying it to another cluster, or after a storage incident.

    python tools/analysis_tools/check_checkpoints.py WORK_DIR_OR_FILE [...] [--json out.json]

For every `*.pth` / `*.safetensors` directly under each work dir (or each file given):
- intact: every member matches the CRC-32 torch.save recorded (mimco_mm/compat/
  checkpoint_integrity.py; torch.load itself never checks), or the safetensors file reads;
- resumable: it holds what `--resume` needs (counters, message hub, optimizer, schedulers;
  ResumeCheckHook's test), else which parts it lacks (a weights-only file is fine for
  `load_from` and `init_cfg=Pretrained`);
- epoch / iteration, and the backbones whose architecture it records;
- which file `last_checkpoint` names, and the file `--resume` would take (the pointer's when
  intact, else the newest intact resumable one).
Exit status: 0 when every file is intact, 1 when one is damaged, 2 on bad input.
"""
import argparse
import glob
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mimco_mm.compat import CorruptCheckpointError, load_checkpoint_file  # noqa: E402
from mimco_mm.compat.atomic_checkpoint import find_latest_checkpoint  # noqa: E402
from mimco_mm.engine.resume_check import missing_training_state  # noqa: E402


def inspect(path: str) -> dict:
    """One file's row: intact, resumable (or what it lacks), counters, recorded backbones."""
    row = dict(file=path, size_mib=round(osp.getsize(path) / 2**20, 1))
    try:
        checkpoint = load_checkpoint_file(path)
    except CorruptCheckpointError as err:
        return dict(row, intact=False, problem=str(err))
    row['intact'] = True
    if not isinstance(checkpoint, dict):
        return dict(row, resumable=False, missing=['a dict of state'])
    missing = missing_training_state(checkpoint)
    meta = checkpoint.get('meta') or {}
    arch = meta.get('architecture') or {}
    return dict(row, resumable=not missing, missing=missing, epoch=meta.get('epoch'),
                iter=meta.get('iter'),
                backbones={prefix or '(bare)': f'{a.get("family", "?")} {a.get("embed_dims")}-d '
                           f'{a.get("num_layers", a.get("depths"))} layers '
                           f'{a.get("num_heads")} heads' for prefix, a in arch.items()})


def check_dir(work_dir: str) -> dict:
    files = sorted(glob.glob(osp.join(work_dir, '*.pth')) +
                   glob.glob(osp.join(work_dir, '*.safetensors')))
    rows = [inspect(p) for p in files]
    pointer = osp.join(work_dir, 'last_checkpoint')
    named = open(pointer).read().strip() if osp.exists(pointer) else None
    try:
        resume = find_latest_checkpoint(work_dir)
    except CorruptCheckpointError as err:
        resume = f'none: {err}'
    return dict(work_dir=work_dir, files=rows, last_checkpoint=named, resume_would_take=resume)


def report(result: dict) -> str:
    lines = [f'{result["work_dir"]}:'] if result.get('work_dir') else []
    for row in result['files']:
        if not row['intact']:
            state = 'DAMAGED: ' + row['problem']
        elif row['resumable']:
            state = f'intact, resumable (epoch {row["epoch"]}, iter {row["iter"]})'
        else:
            state = 'intact, weights only (no ' + ', '.join(row['missing']) + ')'
        lines.append(f'  {osp.basename(row["file"])} ({row["size_mib"]} MiB): {state}')
        for prefix, arch in (row.get('backbones') or {}).items():
            lines.append(f'      {prefix}: {arch}')
    if result.get('work_dir'):
        lines.append(f'  last_checkpoint names: {result["last_checkpoint"]}')
        lines.append(f'  --resume would take:   {result["resume_would_take"]}')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('paths', nargs='+', help='work dirs or checkpoint files')
    parser.add_argument('--json', help='write the results here too')
    args = parser.parse_args(argv)
    results = []
    for path in args.paths:
        if osp.isdir(path):
            results.append(check_dir(path))
        elif osp.isfile(path):
            results.append(dict(work_dir=None, files=[inspect(path)]))
        else:
            print(f'{path}: no such file or directory', file=sys.stderr)
            sys.exit(2)
    for result in results:
        print(report(result))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    damaged = [r['file'] for result in results for r in result['files'] if not r['intact']]
    if damaged:
        print(f'{len(damaged)} damaged: ' + ', '.join(damaged))
        sys.exit(1)
    return results


if __name__ == '__main__':
    main()
