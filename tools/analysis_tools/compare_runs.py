"""Compare a training run with a reference run: loss curves and provenance.

    python tools/analysis_tools/compare_runs.py RUN REFERENCE [--keys loss loss_img] [--rtol 0.05]
        [--window 5] [--by iter|images] [--plot curves.png] [--json out.json]

RUN and REFERENCE are each a work dir of tools/train.py (its scalars.json files, resumes
included, and the provenance of its newest checkpoint), a `vis_data/scalars.json`, or a text log
(MMEngine's `*.log`, or the saved stdout of a run, e.g. docs/gpu_check/*/train_one_epoch_log.txt).

For each key (default: every `loss*` key both logged) both curves are smoothed with a centred
running median of --window logged points, the reference is interpolated at the run's points, and
the relative deviation |run - ref| / |ref| is reported: its maximum, its mean, the first point
above --rtol and the last values. `--by images` aligns the curves by images seen (iteration x
effective batch from the checkpoints' provenance), for runs on different numbers of GPUs. Then
every provenance field that differs (effective batch, lr after scaling, seed, config and data
hashes, versions, devices), those that change the numbers marked.

Exit status: 0 when every compared curve stays within --rtol, 1 when one leaves it, 2 on bad
input.
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mimco_mm.benchmark.compare import compare_runs, load_run, sessions_text  # noqa: E402


def report(result, provenance_recorded=True) -> str:
    unit = 'images' if result['by'] == 'images' else 'iteration'
    lines = [f'run:       {result["run"]}', f'reference: {result["reference"]}',
             f'relative deviation after a running median of {result["window"]} points, '
             f'by {unit}, tolerance {result["rtol"]:g}:',
             f'  {"key":<16} {"points":>6} {"max":>8} {"mean":>8} {"first over":>11} '
             f'{"run last":>10} {"ref last":>10}']
    for key, r in result['curves'].items():
        first = '-' if r['first_over'] is None else f'{r["first_over"]:.0f}'
        lines.append(f'  {key:<16} {r["points"]:>6} {r["max_rel"]:>8.2%} {r["mean_rel"]:>8.2%} '
                     f'{first:>11} {r["run_last"]:>10.4g} {r["ref_last"]:>10.4g}')
    if result['provenance']:
        lines.append('provenance differences (* changes the numbers):')
        for d in result['provenance']:
            lines.append(f'  {"*" if d["recipe"] else " "} {d["field"]}: {d["run"]} '
                         f'(reference {d["reference"]})')
    else:
        lines.append('provenance: no differences' if provenance_recorded else
                     'provenance: not recorded by both (a text log or scalars.json has none)')
    for side in ('run', 'reference'):
        for d in result.get('sessions', {}).get(side, []):
            lines.append(f'  {"*" if d["recipe"] else " "} the {side} was resumed with another '
                         f'{d["field"]}: {sessions_text(d)}')
    lines.append('within tolerance' if result['within'] else
                 'OUT OF TOLERANCE: ' + ', '.join(
                     f'{k} from {r["first_over"]:.0f}' for k, r in result['curves'].items()
                     if r['first_over'] is not None))
    return '\n'.join(lines)


def plot(run, ref, result, path):
    from mimco_mm.benchmark.plots import plt
    keys = list(result['curves'])
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.2), squeeze=False)
    scale = ((run.effective_batch(), ref.effective_batch()) if result['by'] == 'images'
             else (1, 1))
    for ax, key in zip(axes[0], keys):
        for r, s, name in ((ref, scale[1], 'reference'), (run, scale[0], 'run')):
            xs, ys = zip(*r.curves[key])
            ax.plot([x * s for x in xs], ys, label=name)
        ax.set_title(key)
        ax.set_xlabel(result['by'])
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('run')
    parser.add_argument('reference')
    parser.add_argument('--keys', nargs='+', default=None)
    parser.add_argument('--rtol', type=float, default=0.05)
    parser.add_argument('--window', type=int, default=5)
    parser.add_argument('--by', choices=('iter', 'images'), default='iter')
    parser.add_argument('--plot', default=None)
    parser.add_argument('--json', default=None)
    args = parser.parse_args(argv)
    try:
        run, ref = load_run(args.run), load_run(args.reference)
        result = compare_runs(run, ref, args.keys, args.rtol, args.window, args.by)
    except (OSError, ValueError, KeyError) as err:
        print(f'compare_runs: {err}', file=sys.stderr)
        return 2
    print(report(result, bool(run.provenance and ref.provenance)))
    if args.plot:
        plot(run, ref, result, args.plot)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)
    return 0 if result['within'] else 1


if __name__ == '__main__':
    sys.exit(main())
