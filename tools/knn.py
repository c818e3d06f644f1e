"""Weighted k-NN accuracy of frozen features (DINO protocol): any checkpoint, any labelled set.

    python tools/knn.py configs/benchmarks/vit-s_knn_in1k.py CHECKPOINT [--out knn.json]
    tools/dist_knn.sh configs/benchmarks/vit-s_knn_in1k.py CHECKPOINT 8 [--out knn.json]

The config gives the model (backbone with out_type='cls_token'), `knn_bank_dataloader` (the
labelled bank, e.g. ImageNet train with the test transform), `test_dataloader` (the queries) and
`knn = dict(ks=(10, 20, 100, 200), temperature=0.07, logreg=dict())`. With `logreg` (a dict of
mimco_mm/evaluation/logreg.py's settings, `{}` for its defaults; leave it out or None for k-NN
only) the same features also give `logreg/top1`, `logreg/top5` and `logreg/l2`: a logistic
regression fitted to the bank with L-BFGS, its L2 strength chosen on every 5th bank image
(CLIP's linear-probe protocol, not the 90-epoch SGD linear probe of the paper tables).

Across N processes (tools/dist_knn.sh): each extracts 1/N of the bank and of the queries; the
bank is gathered on every device (ImageNet, ViT-S: 1.28 M x 384 float32, 2 GB); each process
votes for its own queries on its device, 1024 at a time, and the hit counts are summed.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mimco_mm  # noqa: E402,F401
import torch  # noqa: E402

from mimco_mm.evaluation import (extract_features, gather_rows,  # noqa: E402
                                 knn_across_processes, logreg_across_processes, reduce_across)
from mimco_mm.evaluation.logreg import check_settings  # noqa: E402
from tools._common import run_process  # noqa: E402
from tools._frozen import build_frozen_model, build_loader, run_frozen_tool  # noqa: E402


def knn_eval(config, checkpoint, cfg_options=None):
    """k-NN metrics, plus the query features and labels (the demo plots them)."""
    cfg, model, device = build_frozen_model(config, checkpoint, cfg_options)
    knn_cfg = dict(cfg.get('knn', {}))
    unknown = set(knn_cfg) - {'ks', 'temperature', 'logreg'}
    if unknown:
        raise KeyError(f'{config}: knn has unknown keys {sorted(unknown)}')
    logreg = knn_cfg.get('logreg')
    if logreg is not None:
        logreg = check_settings(logreg, f'{config}: knn')
    print('extracting bank features')
    bank, bank_labels = extract_features(model, build_loader(cfg, 'knn_bank_dataloader'), device)
    print('\nextracting query features')
    query, query_labels = extract_features(model, build_loader(cfg, 'test_dataloader'), device)
    if (bank_labels < 0).any() or (query_labels < 0).any():
        raise ValueError('k-NN needs a label for every image (gt_label)')
    bank_size = int(reduce_across(torch.tensor([len(bank)], device=device)))
    wanted = tuple(knn_cfg.get('ks', (10, 20, 100, 200)))
    ks = tuple(k for k in wanted if k <= bank_size)
    if ks != wanted:
        print(f'note: k in {sorted(set(wanted) - set(ks))} exceeds the {bank_size}-image bank, '
              f'reporting k = {ks}')
    # each process: the whole bank on its device, its own queries (mimco_mm/evaluation/knn.py)
    metrics = knn_across_processes(bank.to(device), bank_labels, query, query_labels, ks,
                                   knn_cfg.get('temperature', 0.07))
    if logreg is not None:
        print('fitting the logistic regression')
        metrics.update(logreg_across_processes(bank.to(device), bank_labels, query,
                                               query_labels, **logreg))
    return metrics, gather_rows(query.to(device)).cpu(), gather_rows(query_labels.to(device)).cpu()


def main(argv=None):
    return run_frozen_tool(argv, 'k-NN evaluation of frozen features', 'knn_metrics.json',
                           lambda *args: knn_eval(*args)[0])


if __name__ == '__main__':
    run_process(main)
