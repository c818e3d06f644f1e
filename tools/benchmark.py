"""Regenerate the paper's tables from the metrics every run left under work_dirs/.

    python tools/benchmark.py [--root work_dirs] [--out-dir work_dirs] [--no-published] [--details]

Reads <root>/<run>/<task>/metrics.json (tools/transfer.sh, tools/test.py, tools/knn.py and
tools/retrieval.py write them) and writes results.md and results.csv to --out-dir: ImageNet
fine-tune / linear / k-NN, COCO AP box / mask, ADE20K mIoU and retrieval, one table per
architecture, our runs beside the published reference rows (each with its source; missing cells
are shown as '–'). The markdown is printed too.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mimco_mm.benchmark import build_tables, collect, to_markdown, write_csv  # noqa: E402
from mimco_mm.benchmark.details import write_details  # noqa: E402
from tools._common import write_text_atomic  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', default='work_dirs', help='where the runs are')
    parser.add_argument('--out-dir', help='where results.md / results.csv go (default: --root)')
    parser.add_argument('--no-published', action='store_true', help='our runs only')
    parser.add_argument('--title', help='put every run in one table with this title')
    parser.add_argument('--details', action='store_true',
                        help='also write results_details.csv: every number with its provenance '
                             '(commit, devices, batch, lr, schedule, seed, config / data hashes)')
    args = parser.parse_args(argv)
    if not osp.isdir(args.root):
        raise FileNotFoundError(f'{args.root} does not exist')
    runs = collect(args.root)
    if not runs:
        print(f'note: no <run>/<task>/metrics.json under {args.root}; '
              f'the tables hold the published rows only')
    tables = build_tables(runs, published=not args.no_published, title=args.title)
    markdown = '\n'.join(to_markdown(title, rows) for title, rows in tables.items())
    out_dir = args.out_dir or args.root
    md_path = osp.join(out_dir, 'results.md')
    write_text_atomic(md_path, markdown)
    write_csv(osp.join(out_dir, 'results.csv'), tables)
    print(markdown)
    print(f'wrote {md_path} and {osp.join(out_dir, "results.csv")}')
    if args.details:
        details = osp.join(out_dir, 'results_details.csv')
        rows = write_details(details, runs)
        missing = [f'{r["run"]}/{r["task"]}' for r in rows if not r['has_provenance']]
        print(f'wrote {details}: {len(rows)} results' + (
            f'; WITHOUT provenance (written before it was recorded): {missing}' if missing
            else ''))
    return tables


if __name__ == '__main__':
    main()
