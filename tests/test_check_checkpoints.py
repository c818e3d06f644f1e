"""tools/analysis_tools/check_checkpoints.py: which checkpoints of a run are intact and which can
continue it, and what --resume would take."""
import json
import shutil

import pytest
import torch

from conftest import make_image_folder, run_train, shell
from mimco_mm.compat import load_checkpoint_file
from mimco_mm.compat.safetensors_files import save_weights
from test_checkpoint_integrity import flip_a_byte
from tools.analysis_tools import check_checkpoints


def test_a_work_dir_is_sorted_into_damaged_weights_only_and_resumable(tmp_path):
    data = make_image_folder(str(tmp_path / 'data'), classes=2, per_class=8)
    work = tmp_path / 'work'
    run_train('configs/mocov3/vit-tiny_cpu.py', work, f'train_dataloader.dataset.data_root={data}',
              'train_dataloader.batch_size=4', 'train_cfg.max_epochs=2')
    full = load_checkpoint_file(str(work / 'epoch_2.pth'))
    save_weights(str(work / 'backbone.safetensors'),
                 {k: v for k, v in full['state_dict'].items() if k.startswith('backbone.')},
                 {'architecture': full['meta']['architecture']})
    torch.save({'state_dict': full['state_dict'], 'meta': full['meta']}, work / 'best_x.pth')
    shutil.copy2(work / 'epoch_2.pth', work / 'epoch_1.pth')
    flip_a_byte(work / 'epoch_2.pth')

    with pytest.raises(SystemExit) as stop:
        check_checkpoints.main([str(work), '--json', str(tmp_path / 'out.json')])
    assert stop.value.code == 1  # one damaged file
    (result, ) = json.loads((tmp_path / 'out.json').read_text())
    rows = {r['file'].rsplit('/', 1)[-1]: r for r in result['files']}
    assert not rows['epoch_2.pth']['intact'] and 'is damaged' in rows['epoch_2.pth']['problem']
    assert rows['epoch_1.pth']['resumable'] and rows['epoch_1.pth']['epoch'] == 2
    assert rows['best_x.pth']['intact'] and not rows['best_x.pth']['resumable']
    assert rows['best_x.pth']['missing'] == ['message_hub', 'optimizer', 'param_schedulers']
    assert rows['backbone.safetensors']['intact'] and \
        '4 heads' in rows['backbone.safetensors']['backbones']['backbone']
    assert result['last_checkpoint'].endswith('epoch_2.pth')
    assert result['resume_would_take'].endswith('epoch_1.pth')  # not the damaged one, not best

    (work / 'epoch_2.pth').unlink()
    done = shell('tools/analysis_tools/check_checkpoints.py', work, '--json', tmp_path / 'after.json')
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads((tmp_path / 'after.json').read_text())
    assert all(r['intact'] for r in results[0]['files'])
    with pytest.raises(SystemExit) as stop:
        check_checkpoints.main([str(tmp_path / 'nowhere')])
    assert stop.value.code == 2
