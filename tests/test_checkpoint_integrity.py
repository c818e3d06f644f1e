"""A damaged checkpoint is never loaded (mimco_mm/compat/checkpoint_integrity.py): torch.load
reads flipped bits without a word; every load of ours checks the archive's CRCs, and resume
passes over a damaged checkpoint to the newest intact one."""
import os
import struct
import zipfile

import pytest
import torch

from mimco_mm.compat import CorruptCheckpointError, load_checkpoint_file
from mimco_mm.compat.atomic_checkpoint import find_latest_checkpoint


def flip_a_byte(path):
    """Invert one byte in the middle of the largest tensor's data, leaving the archive's
    structure (and so its size and every header) as it was."""
    with zipfile.ZipFile(path) as archive:
        info = max(archive.infolist(), key=lambda i: i.file_size)
    with open(path, 'r+b') as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack('<HH', f.read(4))
        where = info.header_offset + 30 + name_len + extra_len + info.file_size // 2
        f.seek(where)
        byte = f.read(1)[0]
        f.seek(where)
        f.write(bytes([byte ^ 0xFF]))


def checkpoint(path, value=1.0, iteration=1):
    torch.save({'state_dict': {'w': torch.full((4096, ), value)}, 'meta': {'iter': iteration}},
               path)
    return str(path)


def test_flipped_bits_load_silently_in_torch_and_are_refused_here(tmp_path):
    path = checkpoint(tmp_path / 'epoch_1.pth')
    assert torch.equal(load_checkpoint_file(path)['state_dict']['w'], torch.ones(4096))
    flip_a_byte(path)
    # the upstream behaviour this guards against: other weights, no error
    weights = torch.load(path, weights_only=True)['state_dict']['w']
    assert not torch.equal(weights, torch.ones(4096))
    with pytest.raises(CorruptCheckpointError, match=r"epoch_1\.pth is damaged: its member "
                                                     r"'.*data/\d+' does not match the CRC-32"):
        load_checkpoint_file(path)
    # and through MMEngine's loader, which every init_cfg / load_from / resume uses
    from mmengine.runner.checkpoint import CheckpointLoader
    with pytest.raises(CorruptCheckpointError, match='epoch_1.pth'):
        CheckpointLoader.load_checkpoint(path)


def test_truncated_and_empty_files_are_named(tmp_path):
    path = checkpoint(tmp_path / 'iter_9.pth')
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match=r'iter_9\.pth is truncated or damaged'):
        load_checkpoint_file(path)
    open(path, 'wb').close()
    with pytest.raises(CorruptCheckpointError, match=r'iter_9\.pth is empty'):
        load_checkpoint_file(path)


def test_bits_that_rot_after_a_load_are_found_and_legacy_files_still_load(tmp_path):
    path = checkpoint(tmp_path / 'a.pth')
    load_checkpoint_file(path)
    stat = os.stat(path)
    flip_a_byte(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # rot changes neither size nor mtime
    with pytest.raises(CorruptCheckpointError):
        load_checkpoint_file(path)
    legacy = tmp_path / 'legacy.pth'  # torch's pre-1.6 format has no checksums to compare
    torch.save({'w': torch.ones(3)}, legacy, _use_new_zipfile_serialization=False)
    assert torch.equal(load_checkpoint_file(str(legacy))['w'], torch.ones(3))


def test_resume_passes_over_damaged_checkpoints_and_best_copies(tmp_path):
    for i in (1, 2, 3):
        checkpoint(tmp_path / f'iter_{i}.pth', value=i, iteration=i)
        os.utime(tmp_path / f'iter_{i}.pth', (i, i))
    checkpoint(tmp_path / 'best_knn_top1.pth')  # the newest file, but no optimizer state
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_3.pth'))
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_3.pth')
    flip_a_byte(tmp_path / 'iter_3.pth')
    os.utime(tmp_path / 'iter_3.pth', (3, 3))
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_2.pth')
    os.remove(tmp_path / 'last_checkpoint')  # no pointer: still the newest intact iter file
    assert find_latest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_2.pth')
    for i in (1, 2):
        flip_a_byte(tmp_path / f'iter_{i}.pth')
        os.utime(tmp_path / f'iter_{i}.pth', (i, i))
    with pytest.raises(CorruptCheckpointError, match='no intact checkpoint to resume from'):
        find_latest_checkpoint(str(tmp_path))
