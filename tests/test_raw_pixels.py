"""The raw-pixel baseline row of the demo: k-NN and logistic regression on normalised pixels."""
import json
import os.path as osp

import torch

from conftest import make_image_folder
from mimco_mm.evaluation import logistic_regression_top1
from tools import demo
from tools._common import ROOT


def test_logistic_regression_separates_separable_data_and_not_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 20, generator=g)
    y = (x[:, 3] > 0).long()
    assert logistic_regression_top1(x[:150], y[:150], x[150:], y[150:]) >= 90
    noise_y = torch.randint(0, 2, (200, ), generator=g)
    assert logistic_regression_top1(x[:150], noise_y[:150], x[150:], noise_y[150:]) < 75


def test_raw_pixel_rows_come_from_the_images(tmp_path):
    data = make_image_folder(str(tmp_path / 'data'), classes=3, per_class=6, size=36,
                             splits=('train', 'val'))
    config = osp.join(ROOT, 'configs/benchmarks/vit-tiny_knn_cpu.py')
    options = [f'knn_bank_dataloader.dataset.data_root={data}',
               f'test_dataloader.dataset.data_root={data}']
    knn_metrics, top1 = demo.raw_pixel_baseline(config, options, str(tmp_path / 'raw'), (1, 5))
    # each class is noise around its own colour: the pixels alone separate them
    assert knn_metrics['knn/top1_k1'] == 100.0 and top1 == 100.0
    record = json.loads((tmp_path / 'raw' / 'knn' / 'metrics.json').read_text())
    assert record['metrics'] == knn_metrics and record['provenance']['data']['num_samples'] == 36
    linear = json.loads((tmp_path / 'raw' / 'linear' / 'metrics.json').read_text())
    assert linear['metrics'] == {'accuracy/top1': 100.0}
