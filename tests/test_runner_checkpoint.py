"""MMEngine's Runner writes checkpoints that every loading path reads back under torch >= 2.6."""
import copy

import numpy as np
import torch
from mmengine.model import BaseModel, BaseModule
from mmengine.runner import Runner, load_checkpoint
from torch import nn

import mimco_mm  # noqa: F401


class ToyRegressor(BaseModel):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(4, 4)
        self.head = nn.Linear(4, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.head(self.backbone(torch.stack(inputs)))
        if mode == 'loss':
            return dict(loss=((out - torch.stack(data_samples)) ** 2).mean())
        return out


def _dataset(n=8):
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(n, 4)), dtype=torch.float32)
    return [dict(inputs=x[i], data_samples=x[i, :1] * 2) for i in range(n)]


def _runner(work_dir, max_iters, **kwargs):
    return Runner(
        model=ToyRegressor(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=_dataset(), sampler=dict(type='DefaultSampler', shuffle=True),
                              batch_size=2, collate_fn=dict(type='pseudo_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0), **kwargs)


def test_train_save_resume_load_from_and_pretrained_init(tmp_path):
    first = _runner(tmp_path / 'a', max_iters=2)
    first.train()
    ckpt = tmp_path / 'a' / 'iter_2.pth'
    assert ckpt.is_file()
    trained = copy.deepcopy(first.model.state_dict())

    # resume: continues at iteration 2 from the saved weights and optimizer state
    resumed = _runner(tmp_path / 'b', max_iters=4, resume=True, load_from=str(ckpt))
    resumed.train()
    assert resumed.iter == 4
    assert (tmp_path / 'b' / 'iter_4.pth').is_file()
    state = torch.load(tmp_path / 'b' / 'iter_4.pth', weights_only=False)  # test-made file
    assert state['meta']['iter'] == 4 and 'message_hub' in state and 'optimizer' in state

    # load_from without resume: weights only
    loaded = _runner(tmp_path / 'c', max_iters=2, load_from=str(ckpt))
    loaded.load_or_resume()
    for key, value in trained.items():
        assert torch.equal(loaded.model.state_dict()[key], value), key

    # load_checkpoint and init_cfg=Pretrained with a prefix (the transfer path)
    fresh = ToyRegressor()
    load_checkpoint(fresh, str(ckpt), strict=True)
    assert torch.equal(fresh.head.weight, trained['head.weight'])

    class Backbone(BaseModule):  # the toy model's `backbone.` is a bare Linear(4, 4)
        def __init__(self):
            super().__init__(init_cfg=dict(type='Pretrained', checkpoint=str(ckpt),
                                           prefix='backbone.'))
            self.weight = nn.Parameter(torch.zeros(4, 4))
            self.bias = nn.Parameter(torch.zeros(4))

    backbone = Backbone()
    backbone.init_weights()
    assert torch.equal(backbone.weight, trained['backbone.weight'])
    assert torch.equal(backbone.bias, trained['backbone.bias'])


def test_a_full_disk_stops_the_run_with_a_clear_error_and_loses_nothing(tmp_path, monkeypatch):
    """The disk fills up while iter_4.pth is written: the run stops with an error naming the file
    and the checkpoint to resume from; iter_2.pth and last_checkpoint are untouched, no partial
    file is left, and --resume finishes the run once there is space again."""
    import errno
    import os
    import pytest
    from mimco_mm.compat import atomic_checkpoint
    real_fsync = os.fsync

    def fsync_disk_full(fd):
        if os.readlink(f'/proc/self/fd/{fd}').endswith('-iter_4.pth.part'):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(atomic_checkpoint.os, 'fsync', fsync_disk_full)
    work = tmp_path / 'run'
    with pytest.raises(OSError) as info:
        _runner(work, max_iters=4).train()
    assert info.value.errno == errno.ENOSPC
    message = str(info.value)
    assert str(work / 'iter_4.pth') in message and f'newest: {work / "iter_2.pth"}' in message
    assert '--resume' in message
    names = [p.name for p in work.iterdir()]
    assert sorted(n for n in names if n.endswith('.pth')) == ['iter_2.pth']
    assert not [n for n in names if n.endswith(atomic_checkpoint.TMP_SUFFIX)]
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_2.pth')
    saved = torch.load(work / 'iter_2.pth', weights_only=False)  # test-made file
    assert saved['meta']['iter'] == 2

    monkeypatch.setattr(atomic_checkpoint.os, 'fsync', real_fsync)  # space again
    resumed = _runner(work, max_iters=4, resume=True)
    resumed.train()
    assert resumed.iter == 4 and (work / 'iter_4.pth').is_file()


def test_low_disk_space_after_a_checkpoint_is_announced(tmp_path, monkeypatch):
    from collections import namedtuple

    from mimco_mm.compat import atomic_checkpoint
    usage = namedtuple('usage', 'total used free')
    printed = []
    monkeypatch.setattr('mmengine.logging.print_log', lambda msg, **kw: printed.append(msg))
    target = tmp_path / 'epoch_1.pth'
    for free, warned in ((10_000, False), (1_500, True)):  # 1000-byte checkpoints
        monkeypatch.setattr(atomic_checkpoint.shutil, 'disk_usage',
                            lambda folder, free=free: usage(10 ** 6, 10 ** 6 - free, free))
        printed.clear()
        atomic_checkpoint.write_bytes_atomic(b'x' * 1000, target)
        assert target.read_bytes() == b'x' * 1000
        assert bool(printed) == warned, printed
    assert 'low disk space' in printed[0] and str(target) in printed[0]
    # other files (last_checkpoint, logs) never warn
    printed.clear()
    atomic_checkpoint.write_bytes_atomic(b'x' * 1000, tmp_path / 'last_checkpoint')
    assert printed == []
