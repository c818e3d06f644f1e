"""Each fix in mimco_mm.compat, proven on the pinned stack."""
import datetime
import os

import numpy as np
import pytest
import torch

import mimco_mm  # noqa: F401  applies the fixes
from mimco_mm import compat


class _WritesMarker:
    """Unpickling this calls builtins.open(path, 'w'), i.e. runs code that creates a file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_malicious_checkpoint_is_refused_and_runs_nothing(tmp_path):
    from mmengine.runner import load_checkpoint
    marker = tmp_path / 'pwned'
    ckpt = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _WritesMarker(str(marker))}, ckpt)
    with pytest.raises(compat.UntrustedCheckpointError) as err:
        load_checkpoint(torch.nn.Linear(1, 1), str(ckpt))  # mmengine's own entry point
    assert 'the global io.open' in str(err.value)  # builtins.open is io.open
    assert compat.TRUST_ENV in str(err.value) and str(ckpt) in str(err.value)
    assert not marker.exists()


def test_unknown_global_loads_only_when_that_file_is_trusted(tmp_path, monkeypatch):
    ckpt = tmp_path / 'dated.pth'
    torch.save({'when': datetime.date(2022, 9, 7)}, ckpt)
    monkeypatch.delenv(compat.TRUST_ENV, raising=False)
    with pytest.raises(compat.UntrustedCheckpointError, match='datetime.date'):
        compat.load_checkpoint_file(str(ckpt))
    monkeypatch.setenv(compat.TRUST_ENV, str(tmp_path / 'other.pth'))  # another file: still refused
    with pytest.raises(compat.UntrustedCheckpointError):
        compat.load_checkpoint_file(str(ckpt))
    monkeypatch.setenv(compat.TRUST_ENV, f'{tmp_path / "other.pth"}:{ckpt}')
    assert compat.load_checkpoint_file(str(ckpt))['when'] == datetime.date(2022, 9, 7)


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        compat.load_checkpoint_file(str(tmp_path / 'nope.pth'))


def test_getattr_stand_in_allows_only_history_buffer_statistics():
    from mmengine.logging import HistoryBuffer
    getattr_stand_in = compat.checkpoint_loading._history_buffer_getattr
    assert getattr_stand_in(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(Exception, match='only HistoryBuffer'):
        getattr_stand_in(os, 'system')
    with pytest.raises(Exception, match='only HistoryBuffer'):
        getattr_stand_in(HistoryBuffer, '__init__')


def custom_spread(self):
    """A statistic a user registers, as mmengine's docs show (module level: the Runner pickles it
    by name into the checkpoint's message hub)."""
    return float(np.ptp(self._log_history)) if len(self._log_history) else 0.0


def test_a_statistic_this_process_registered_resumes_and_an_unregistered_one_is_refused(tmp_path):
    import sys

    from mmengine.logging import HistoryBuffer, MessageHub
    registered = dict(HistoryBuffer._statistics_methods)
    try:
        HistoryBuffer.register_statistics(custom_spread)
        hub = MessageHub.get_instance('stats_resume_test')
        hub.update_scalar('train/loss', 2.0)
        hub.update_scalar('train/loss', 5.0)
        ckpt = tmp_path / 'with_statistic.pth'
        torch.save({'message_hub': hub.state_dict()}, ckpt)
        # the Runner's checkpoint names the function: it resumes through mmengine's loader
        from mmengine.runner.checkpoint import CheckpointLoader
        state = CheckpointLoader.load_checkpoint(str(ckpt))
        buffer = state['message_hub']['log_scalars']['train/loss']
        assert buffer.statistics('custom_spread') == 3.0
    finally:
        HistoryBuffer._statistics_methods.clear()
        HistoryBuffer._statistics_methods.update(registered)
    # not registered in this process (any more): refused by name, and nothing is imported
    before = set(sys.modules)
    with pytest.raises(compat.UntrustedCheckpointError, match='custom_spread'):
        compat.load_checkpoint_file(str(ckpt))
    assert set(sys.modules) == before


def test_a_module_the_checkpoint_names_is_never_imported(tmp_path):
    """A pickle naming a function of a module this process never imported is refused before the
    module is looked up."""
    import sys
    import zipfile
    name = 'mimco_never_imported_module_xyz'
    ckpt = tmp_path / 'names_a_module.pth'
    torch.save({'x': 1}, ckpt)  # a valid archive, whose data.pkl is replaced below
    payload = b'\x80\x02c' + name.encode() + b'\nfn\n)R.'
    with zipfile.ZipFile(ckpt) as z:
        members = {i.filename: z.read(i.filename) for i in z.infolist()}
    data = next(k for k in members if k.endswith('data.pkl'))
    members[data] = payload
    with zipfile.ZipFile(ckpt, 'w') as z:
        for k, v in members.items():
            z.writestr(k, v)
    with pytest.raises(compat.UntrustedCheckpointError, match=f'{name}.fn'):
        compat.load_checkpoint_file(str(ckpt))
    assert name not in sys.modules


def test_mmengines_local_loader_keeps_its_name_and_signature():
    import inspect

    from mmengine.runner.checkpoint import CheckpointLoader
    loader = CheckpointLoader._schemes['']
    assert loader.__name__ == 'load_from_local'
    assert list(inspect.signature(loader).parameters) == ['filename', 'map_location']


def test_a_transform_subclass_records_its_random_methods_on_itself():
    """mmcv's cache_randomness appended a subclass's methods to its parent's list (mmdet's
    RandAugment doubled RandomChoice's): each class now keeps its own list, each name once, and
    a RandomChoice with shared random parameters draws once (mmcv's test_random_choice, case 3)."""
    from mmcv.transforms import BaseTransform, RandomChoice, TransformBroadcaster
    from mmcv.transforms.utils import cache_randomness

    def classes(set_name):
        saved = cache_randomness.__set_name__
        cache_randomness.__set_name__ = set_name
        try:
            class Parent(BaseTransform):
                @cache_randomness
                def draw(self):
                    return np.random.rand()

                def transform(self, results):
                    return results

            class Child(Parent):
                @cache_randomness
                def draw(self):
                    return np.random.rand()
        finally:
            cache_randomness.__set_name__ = saved
        return Parent, Child

    parent, child = classes(cache_randomness._mmcv_set_name)  # mmcv's own: the parent's list grows
    assert parent._methods_with_randomness == ['draw', 'draw']
    parent, child = classes(cache_randomness.__set_name__)  # the fix
    assert parent._methods_with_randomness == ['draw']
    assert child._methods_with_randomness == ['draw']

    import mmdet.datasets.transforms  # noqa: F401  defines RandAugment(RandomChoice)
    compat.cache_randomness.repair_recorded_methods()
    assert RandomChoice._methods_with_randomness == ['random_pipeline_index']

    class AddOne(BaseTransform):
        def transform(self, results):
            results['value'] += 1
            return results
    shared = TransformBroadcaster(transforms=[RandomChoice(transforms=[[AddOne()], [AddOne()]])],
                                  mapping={'value': 'values'}, auto_remap=True,
                                  share_random_params=True)
    assert shared(dict(values=[0, 0, 0]))['values'] == [1, 1, 1]


def _image(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (16, 16, 3), dtype=np.uint8)


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_adjust_hue_positive_matches_mmcv(backend):
    img = _image()
    for factor in (0.0, 0.05, 0.1, 0.5):
        expected = compat.adjust_hue._mmcv_adjust_hue(img, factor, backend=backend)
        fixed = compat.adjust_hue.adjust_hue(img, factor, backend=backend)
        np.testing.assert_array_equal(fixed, expected)


def test_adjust_hue_negative_wraps_like_numpy1():
    import cv2
    import mmcv
    img = _image(1)
    with pytest.raises(OverflowError):  # the bug being fixed
        compat.adjust_hue._mmcv_adjust_hue(img, -0.1, backend='cv2')
    out = mmcv.adjust_hue(img, -0.1, backend='cv2')  # the alias mmpretrain calls
    # numpy 1 semantics: np.uint8(-25) wrapped to 231.
    h, s, v = cv2.split(cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL))
    shifted = ((h.astype(np.int64) + np.int64(-25)) % 256).astype(np.uint8)
    expected = cv2.cvtColor(cv2.merge([shifted, s, v]), cv2.COLOR_HSV2BGR_FULL)
    np.testing.assert_array_equal(out, expected)
    assert not np.array_equal(out, img)


def test_mocov3_color_jitter_survives_many_draws():
    from mmpretrain.datasets.transforms import ColorJitter
    jitter = ColorJitter(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)
    for seed in range(30):
        np.random.seed(seed)
        out = jitter(dict(img=_image(seed)))['img']
        assert out.shape == (16, 16, 3)


def test_retrieval_metrics_work_without_np_in1d():
    from mmpretrain.evaluation.metrics import RetrievalRecall
    pred = torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.2, 0.7]])
    target = [torch.tensor([0]), torch.tensor([1])]
    recall = RetrievalRecall.calculate(pred, target, topk=(1, 2), target_indices=True)
    assert [float(r) for r in recall] == [50.0, 100.0]


class _RecordingScaler:
    """Stands in for GradScaler inside mmengine's AmpOptimWrapper: records its arguments."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs


@pytest.mark.parametrize('dtype, loss_scale, expected', [
    ('bfloat16', 'dynamic', dict(enabled=False)),  # the fix
    (torch.bfloat16, 'dynamic', dict(enabled=False)),
    ('float16', 'dynamic', {}),  # fp16 needs its scaler: unchanged
    (None, 'dynamic', {}),
    ('bfloat16', 512.0, dict(init_scale=512.0)),  # an explicit scale is respected
    ('bfloat16', dict(init_scale=8.0), dict(init_scale=8.0)),
])
def test_bf16_autocast_builds_no_loss_scaler(monkeypatch, dtype, loss_scale, expected):
    from mmengine.optim import AmpOptimWrapper
    from mmengine.optim.optimizer import amp_optimizer_wrapper
    monkeypatch.setattr(amp_optimizer_wrapper, 'is_cuda_available', lambda: True)  # a GPU box
    monkeypatch.setattr(compat.bf16_amp, 'no_accelerator', lambda: False)
    monkeypatch.setattr(amp_optimizer_wrapper, 'GradScaler', _RecordingScaler)
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    wrapper = AmpOptimWrapper(optimizer=optimizer, loss_scale=loss_scale, dtype=dtype)
    assert wrapper.loss_scaler.kwargs == expected
    assert wrapper.cast_dtype == (getattr(torch, dtype) if isinstance(dtype, str) else dtype)


def test_bf16_wrapper_steps_without_scaling():
    """The disabled scaler leaves the gradients as the loss made them (no x65536) and steps."""
    from mmengine.optim import AmpOptimWrapper
    weight = torch.nn.Parameter(torch.ones(3))
    wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD([weight], lr=0.5), dtype='bfloat16',
                              clip_grad=dict(max_norm=100.0))
    assert not wrapper.loss_scaler.is_enabled() and wrapper.state_dict()['loss_scaler'] == {}
    wrapper.backward((2 * weight).sum())
    assert torch.equal(weight.grad, torch.full((3,), 2.0))
    wrapper.step()
    assert torch.equal(weight.detach(), torch.zeros(3))


def test_a_bf16_amp_wrapper_builds_and_autocasts_on_a_cpu_box():
    """mmengine asserted a GPU; on this CPU-only machine the bf16 wrapper now builds and its
    context autocasts to bf16, while fp16 and explicit loss scales are still refused."""
    from mmengine.optim import AmpOptimWrapper
    assert compat.bf16_amp.no_accelerator()  # the premise: CI machines have no GPU
    layer = torch.nn.Linear(4, 4)
    wrapper = AmpOptimWrapper(optimizer=torch.optim.SGD(layer.parameters(), lr=0.1),
                              dtype='bfloat16')
    with wrapper.optim_context(layer):
        assert layer(torch.randn(2, 4)).dtype == torch.bfloat16
    assert not wrapper.loss_scaler.is_enabled() and wrapper.cast_dtype == torch.bfloat16
    with pytest.raises(AssertionError, match='only available training on gpu'):
        AmpOptimWrapper(optimizer=torch.optim.SGD(layer.parameters(), lr=0.1), dtype='float16')
    with pytest.raises(ValueError, match='without loss scaling'):
        AmpOptimWrapper(optimizer=torch.optim.SGD(layer.parameters(), lr=0.1),
                        dtype='bfloat16', loss_scale=512.0)


def test_a_restarted_attempt_reads_none_of_the_failed_attempts_keys(monkeypatch, capsys):
    """torchrun's rendezvous keeps one store for every attempt. Through the env:// handler (as
    init_process_group reaches it), a restarted attempt sees a fresh namespace: not the key the
    failed attempt left, but the one it writes itself. Workers on two nodes whose agents counted
    the restart differently (one restarted for the other's failure, count 0) share the namespace
    of the attempt name their agents agreed on. A first attempt, a run outside torchrun's agent
    store, and workers of several agents with no agreed name (plain torchrun) see the store as
    it is."""
    import importlib
    from datetime import timedelta

    from torch.distributed import TCPStore

    from conftest import free_port
    handler = importlib.import_module('torch.distributed.rendezvous')._rendezvous_handlers['env']
    assert handler._mimco_attempt_prefix  # installed by `import mimco_mm`
    port = free_port()
    server = TCPStore('127.0.0.1', port, 1, True, timeout=timedelta(seconds=10))
    server.set('default_pg/rank_1', 'address of the failed attempt')
    for name in ('MIMCO_ELASTIC_ATTEMPT', 'GROUP_WORLD_SIZE'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', str(port))
    monkeypatch.setenv('TORCHELASTIC_USE_AGENT_STORE', 'True')  # clients of the agent's store

    def store_of(restart_count, **env):
        monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', restart_count)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        store, rank, world_size = next(handler('env://?rank=0&world_size=2',
                                               timeout=timedelta(seconds=10)))
        assert (rank, world_size) == (0, 2)
        for name in env:
            monkeypatch.delenv(name)
        return store
    first = store_of('0')
    assert first.get('default_pg/rank_1') == b'address of the failed attempt'
    restarted = store_of('1')  # one agent (GROUP_WORLD_SIZE 1): its count names the attempt
    assert not restarted.check(['default_pg/rank_1'])
    restarted.set('default_pg/rank_1', 'address of the restarted attempt')
    assert restarted.get('default_pg/rank_1') == b'address of the restarted attempt'
    assert server.get('default_pg/rank_1') == b'address of the failed attempt'
    # two nodes: the agent of the node that failed counted 1, the other's counted nothing
    failed_node = store_of('1', GROUP_WORLD_SIZE='2', MIMCO_ELASTIC_ATTEMPT='round_1')
    other_node = store_of('0', GROUP_WORLD_SIZE='2', MIMCO_ELASTIC_ATTEMPT='round_1')
    assert not other_node.check(['default_pg/rank_1'])
    failed_node.set('default_pg/rank_1', 'address in round 1')
    assert other_node.get('default_pg/rank_1') == b'address in round 1'
    assert store_of('0', GROUP_WORLD_SIZE='2', MIMCO_ELASTIC_ATTEMPT='round_0').get(
        'default_pg/rank_1') == b'address of the failed attempt'
    capsys.readouterr()
    unnamed = store_of('1', GROUP_WORLD_SIZE='2')  # plain torchrun on two nodes: torch's store
    assert unnamed.get('default_pg/rank_1') == b'address of the failed attempt'
    assert 'share no attempt name' in capsys.readouterr().err
    monkeypatch.setenv('TORCHELASTIC_USE_AGENT_STORE', 'False')  # rank 0 hosts its own store
    monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', '1')
    from mimco_mm.compat.elastic_restart_store import attempt_prefix
    assert attempt_prefix() is None


def test_a_config_is_formatted_by_yapf_once_and_its_text_is_yapfs(monkeypatch):
    """Config.pretty_text, called as MMEngine calls it (runner start, every checkpoint): yapf
    formats each distinct text once; the text is what yapf alone writes; a changed config, a
    changed style and yapf's errors are yapf's own."""
    from mmengine.config import Config
    from mmengine.config import config as config_module
    from yapf.yapflib.yapf_api import FormatCode as yapf_format

    from mimco_mm.compat import config_text
    calls = []

    def counting(source, *args, **kwargs):
        calls.append(source)
        return yapf_format(source, *args, **kwargs)
    monkeypatch.setattr(config_module, 'FormatCode', config_text.memoized(counting))
    cfg = Config(dict(model=dict(type='MimCo', depth=12), optim_wrapper=dict(lr=1.5e-4)))
    text = cfg.pretty_text
    assert [cfg.pretty_text for _ in range(5)] == [text] * 5 and len(calls) == 1
    assert text == yapf_format(calls[0], style_config=dict(
        based_on_style='pep8', blank_line_before_nested_class_or_def=True,
        split_before_expression_after_opening_paren=True))[0]
    cfg.model.depth = 6  # a changed config is formatted again
    assert 'depth=6' in cfg.pretty_text and len(calls) == 2
    assert config_module.FormatCode(calls[0], style_config=dict(based_on_style='google')) == \
        yapf_format(calls[0], style_config=dict(based_on_style='google')) and len(calls) == 3
    with pytest.raises(Exception):
        config_module.FormatCode('def broken(:\n')
    with pytest.raises(Exception):  # not remembered as a result
        config_module.FormatCode('def broken(:\n')
    assert len(calls) == 5
    assert getattr(config_module.FormatCode, '__wrapped__', None) is counting
    # the installed fix wraps yapf's FormatCode under its own name
    monkeypatch.undo()
    assert config_module.FormatCode.__name__ == 'FormatCode'
    assert config_module.FormatCode.__wrapped__ is yapf_format


def test_the_memo_keeps_only_its_newest_results():
    from mimco_mm.compat import config_text
    seen = []
    remembered = config_text.memoized(lambda source: seen.append(source) or (source, False))
    for i in range(config_text.KEEP + 1):
        remembered(f'x = {i}\n')
    remembered(f'x = {config_text.KEEP}\n')  # the newest: remembered
    remembered('x = 0\n')  # the oldest: dropped, formatted again
    assert len(seen) == config_text.KEEP + 2


def test_an_installed_packages_config_index_is_read_once_and_answers_as_mmengine(monkeypatch):
    """`mmdet::...` references: the package's model index and metafiles are read on the first
    lookup only; every lookup answers what MMEngine's own function answers (an entry, or its
    ValueError for a base file that no metafile lists), and returns a copy."""
    from mmengine.config import utils
    from mmengine.utils import get_installed_path

    from mimco_mm.compat import external_configs
    assert utils._get_cfg_metainfo is external_configs._get_cfg_metainfo
    upstream = external_configs.UPSTREAM[0]
    mmdet = get_installed_path('mmdet')
    name = 'mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
    assert utils._get_cfg_metainfo(mmdet, name) == upstream(mmdet, name)
    with pytest.raises(ValueError, match='but got _base_/default_runtime') as ours:
        utils._get_cfg_metainfo(mmdet, '_base_/default_runtime')
    with pytest.raises(ValueError) as theirs:
        upstream(mmdet, '_base_/default_runtime')
    assert str(ours.value) == str(theirs.value)
    entry = utils._get_cfg_metainfo(mmdet, name)
    entry['Config'] = 'changed'
    assert utils._get_cfg_metainfo(mmdet, name)['Config'] != 'changed'
    # read once: a fresh process's first lookup loads the files, later ones none
    loads = []
    import mmengine.fileio
    original = mmengine.fileio.load
    monkeypatch.setattr(mmengine.fileio, 'load', lambda *a, **k: loads.append(a) or original(
        *a, **k))
    monkeypatch.setattr(external_configs, '_INDEXES', {})
    utils._get_cfg_metainfo(mmdet, name)
    assert len(loads) > 100  # model-index.yml and every metafile
    first = len(loads)
    utils._get_cfg_metainfo(mmdet, 'retinanet/retinanet_r50_fpn_1x_coco.py')
    with pytest.raises(ValueError):
        utils._get_cfg_metainfo(mmdet, '_base_/datasets/coco_detection')
    assert len(loads) == first
