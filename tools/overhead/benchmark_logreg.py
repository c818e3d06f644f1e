"""Time of the logistic regression that tools/knn.py and KNNMonitorHook fit to frozen features
(mimco_mm/evaluation/logreg.py), at a given bank size, on CUDA when available, else CPU.

    python tools/overhead/benchmark_logreg.py                       # the monitor's setting
    python tools/overhead/benchmark_logreg.py --bank 1281167 --queries 50000 --classes 1000

The features are generated: each class a random centre in D dimensions, each image its class's
centre plus noise, so that L-BFGS follows a path like on real features (the optimum is neither
trivial nor hopeless). Reported: the whole read-out (the L2 choice on held-out bank images, the
final fit, classifying the queries) and its share spent on one fit, with the accuracy reached
(a sanity check that the problem was not degenerate, not a result).
"""
import argparse
import os.path as osp
import sys
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from mimco_mm.evaluation.logreg import (L2_GRID, fit_logistic,  # noqa: E402
                                        logreg_across_processes, standardise)


def class_features(n, centres, generator):
    """(n, D) features, each its class's centre (a row of the (K, D) `centres`) plus unit
    noise, and their (n,) labels, on the centres' device."""
    labels = torch.randint(0, centres.shape[0], (n, ), generator=generator)
    noise = torch.randn(n, centres.shape[1], generator=generator).to(centres.device)
    return centres[labels.to(centres.device)] + noise, labels.to(centres.device)


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--bank', type=int, default=5000, help='bank images (monitor: 100 x 50)')
    parser.add_argument('--queries', type=int, default=5000)
    parser.add_argument('--dim', type=int, default=384, help='feature width (ViT-S: 384)')
    parser.add_argument('--classes', type=int, default=100)
    parser.add_argument('--max-iter', type=int, default=100)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(0)
    # the class centres' spread sets how hard the problem is: 2 / sqrt(D) per dimension puts two
    # centres about 2.8 noise standard deviations apart
    centres = (torch.randn(args.classes, args.dim, generator=generator) * 2 / args.dim ** 0.5
               ).to(device)
    bank, bank_y = class_features(args.bank, centres, generator)
    query, query_y = class_features(args.queries, centres, generator)
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'
    print(f'logistic regression, {name}: bank {args.bank} x {args.dim}, {args.classes} classes, '
          f'{args.queries} queries, grid of {len(L2_GRID)} L2 strengths, {args.max_iter} L-BFGS '
          f'iterations per fit')
    sync(device)
    start = time.perf_counter()
    metrics = logreg_across_processes(bank, bank_y, query, query_y, max_iter=args.max_iter)
    sync(device)
    total = time.perf_counter() - start
    feats = standardise(bank, bank.mean(0), bank.std(0).clamp_min(1e-6))
    start = time.perf_counter()
    fit_logistic(feats, bank_y, args.classes, metrics['logreg/l2'], args.max_iter)
    sync(device)
    one_fit = time.perf_counter() - start
    print(f'read-out: {total:.2f} s (one fit on the whole bank: {one_fit:.2f} s); top-1 '
          f'{metrics["logreg/top1"]:.1f} %, L2 {metrics["logreg/l2"]:g}')
    return dict(seconds=total, one_fit_seconds=one_fit, **metrics)


if __name__ == '__main__':
    main()
