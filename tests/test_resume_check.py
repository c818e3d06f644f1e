"""--resume continues a run only from a checkpoint that can continue it (ResumeCheckHook):
weights-only files, files without optimizer or scheduler state, and a different number of lr
schedulers are refused by name; load_from of the same files still works."""
import pytest
import torch

from conftest import make_image_folder, run_train
from mimco_mm.compat import load_checkpoint_file
from mimco_mm.engine import NotResumableError

CONFIG = 'configs/mocov3/vit-tiny_cpu.py'


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp('resume_check')
    data = make_image_folder(str(root / 'data'), classes=2, per_class=8)
    opts = [f'train_dataloader.dataset.data_root={data}', 'train_dataloader.batch_size=4',
            'train_cfg.max_epochs=3']
    run_train(CONFIG, root / 'ref', *opts, 'train_cfg.max_epochs=2')
    full = load_checkpoint_file(str(root / 'ref' / 'epoch_2.pth'))
    return dict(root=root, opts=opts, full=full)


@pytest.mark.parametrize('drop,missing', [
    (('message_hub', 'optimizer', 'param_schedulers', 'loop_state'), 'message_hub, optimizer'),
    (('optimizer', ), 'optimizer'),  # what best_knn_top1.pth holds; MMEngine resumed silently
    (('param_schedulers', ), 'param_schedulers'),
])
def test_resume_from_a_checkpoint_without_training_state_is_refused(run, tmp_path, drop,
                                                                    missing):
    partial = tmp_path / 'partial.pth'
    torch.save({k: v for k, v in run['full'].items() if k not in drop}, partial)
    with pytest.raises(NotResumableError, match=f'--resume {partial}: the checkpoint has no '
                                                f'.*{missing}.*load_from={partial}'):
        run_train(CONFIG, tmp_path / 'work', *run['opts'], resume=partial)
    assert not list((tmp_path / 'work').glob('epoch_*.pth'))  # nothing trained
    # the same file as load_from: its weights, a new schedule (the check is for resume only)
    runner = run_train(CONFIG, tmp_path / 'load', *run['opts'], f'load_from={partial}')
    assert runner.iter == 12  # 3 fresh epochs of 4 iterations


def test_a_different_number_of_schedulers_is_refused(run, tmp_path):
    import os.path as osp
    from tools._common import ROOT
    one_scheduler = tmp_path / 'one_scheduler.py'  # the run had warm-up + cosine
    one_scheduler.write_text(
        f"_base_ = '{osp.join(ROOT, CONFIG)}'\n"
        "param_scheduler = [dict(type='CosineAnnealingLR', T_max=3, by_epoch=True, begin=0, "
        "end=3, convert_to_iter_based=True)]\n")
    with pytest.raises(NotResumableError, match='config has 1 parameter schedulers, the '
                                                'checkpoint 2'):
        run_train(str(one_scheduler), tmp_path / 'work', *run['opts'],
                  resume=run['root'] / 'ref' / 'epoch_2.pth')


def test_a_full_checkpoint_resumes(run, tmp_path):
    runner = run_train(CONFIG, tmp_path / 'work', *run['opts'],
                       resume=run['root'] / 'ref' / 'epoch_2.pth')
    assert runner.iter == 12 and (tmp_path / 'work' / 'epoch_3.pth').is_file()
