"""2-D map of a checkpoint's frozen features, coloured by class (the paper's separability view).

    python tools/visualization/visualize_features.py CONFIG CHECKPOINT [CHECKPOINT ...] --out map.png

CONFIG is a frozen-feature config with a labelled `test_dataloader` (e.g.
configs/benchmarks/vit-s_knn_in1k.py, or vit-tiny_knn_cpu.py for the demo data). Each checkpoint
gets one panel: the PCA of its L2-normalised features.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import mimco_mm  # noqa: E402,F401
from mimco_mm.benchmark.plots import embeddings  # noqa: E402
from mimco_mm.evaluation import extract_features  # noqa: E402
from tools._common import DictAction  # noqa: E402
from tools._frozen import build_frozen_model, build_loader  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoints', nargs='+')
    parser.add_argument('--out', default='feature_map.png')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    features, labels = {}, None
    for checkpoint in args.checkpoints:
        cfg, model, device = build_frozen_model(args.config, checkpoint, args.cfg_options)
        name = osp.basename(osp.dirname(osp.abspath(checkpoint)))
        features[name], labels = extract_features(model, build_loader(cfg, 'test_dataloader'),
                                                  device)
    embeddings(features, labels, args.out)
    print(f'\nwrote {args.out}')


if __name__ == '__main__':
    main()
