"""tools/dist_train.sh runs a tiny stage-2 config on 2 CPU processes (gloo); the image-level loss
sees both processes' images as negatives."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np

from conftest import make_image_folder, monitor_off
from mimco_mm.benchmark.plots import read_scalars
from tools._common import ROOT, load_config
from tools.speed.benchmark_step import random_teacher_checkpoint


def test_two_process_gloo_training_gathers_negatives(tmp_path):
    data = make_image_folder(str(tmp_path / 'data'))
    teacher = random_teacher_checkpoint(
        load_config(osp.join(ROOT, 'configs/mimco/vit-tiny_cpu.py')).model.teacher,
        str(tmp_path / 'teacher.pth'))
    work_dir = tmp_path / 'work'
    batch = 4
    env = dict(os.environ, PYTHON=sys.executable, PORT='29517', OMP_NUM_THREADS='1')
    result = subprocess.run(
        ['bash', osp.join(ROOT, 'tools/dist_train.sh'), 'configs/mimco/vit-tiny_cpu.py', '2',
         '--work-dir', str(work_dir), '--cfg-options',
         f'train_dataloader.dataset.data_root={data}', f'model.teacher.checkpoint={teacher}',
         f'train_dataloader.batch_size={batch}', 'train_dataloader.num_workers=0',
         'train_dataloader.persistent_workers=False', 'train_cfg.max_epochs=1',
         'default_hooks.logger.interval=1', *monitor_off('configs/mimco/vit-tiny_cpu.py')],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = [r for r in read_scalars(str(work_dir)) if 'img_negatives' in r]
    # 32 images / (2 processes x 4) = 4 iterations, each logged
    assert len(rows) == 4
    assert all(r['img_negatives'] == 2 * batch - 1 for r in rows)
    assert all(np.isfinite(r['loss_img']) and np.isfinite(r['loss_patch']) for r in rows)
    assert (work_dir / 'epoch_1.pth').is_file()
