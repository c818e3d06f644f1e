"""The raw-pixel baseline row of the demo: k-NN and logistic regression on normalised pixels
(the regression itself: tests/test_logreg.py)."""
import json
import os.path as osp

from conftest import make_image_folder
from tools import demo
from tools._common import ROOT


def test_raw_pixel_rows_come_from_the_images(tmp_path):
    data = make_image_folder(str(tmp_path / 'data'), classes=3, per_class=6, size=36,
                             splits=('train', 'val'))
    config = osp.join(ROOT, 'configs/benchmarks/vit-tiny_knn_cpu.py')
    options = [f'knn_bank_dataloader.dataset.data_root={data}',
               f'test_dataloader.dataset.data_root={data}']
    metrics = demo.raw_pixel_baseline(config, options, str(tmp_path / 'raw'), (1, 5))
    # each class is noise around its own colour: the pixels alone separate them
    assert metrics['knn/top1_k1'] == 100.0 and metrics['logreg/top1'] == 100.0
    record = json.loads((tmp_path / 'raw' / 'knn' / 'metrics.json').read_text())
    assert record['metrics'] == metrics and record['provenance']['data']['num_samples'] == 36
    # no SGD linear probe is trained on pixels: the table's linear column stays empty for them
    assert not (tmp_path / 'raw' / 'linear').exists()
