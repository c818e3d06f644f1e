"""Benchmark configs hold the values of the reference they cite (docs/transfer.md "Protocols, value by value")."""
import os.path as osp

import pytest
import torch
from mmpretrain.registry import MODELS

import mimco_mm.transfer  # noqa: F401  registers NormedOutputsViT
from conftest import TINY_ARCH
from mimco_mm.benchmark.protocols import PROTOCOLS, lookup, markdown
from tools._common import ROOT, load_config

ADE_VIT_S = 'configs/benchmarks/upernet_vit-s_8xb2-160k_ade20k-512x512.py'


def test_ade20k_vit_s_is_ibots_recipe():
    cfg = load_config(osp.join(ROOT, ADE_VIT_S))
    assert cfg.model.backbone.type == 'mmpretrain.NormedOutputsViT'  # out_with_norm
    assert cfg.model.backbone.init_cfg.allow_unexpected == ['mask_token']  # ln1 is used
    assert cfg.optim_wrapper.optimizer.lr == 3e-5
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.9
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.model.decode_head.channels == 384
    assert cfg.model.backbone.out_indices == (3, 5, 7, 11)
    assert cfg.model.backbone.drop_path_rate == 0.1
    assert cfg.train_dataloader.batch_size == 2 and cfg.train_cfg.max_iters == 160000
    assert cfg.model.test_cfg.stride == (341, 341)


def test_normed_outputs_vit_normalises_every_output_with_the_final_norm():
    torch.manual_seed(0)
    common = dict(arch=TINY_ARCH, img_size=32, patch_size=8, out_indices=(0, 1))
    normed = MODELS.build(dict(type='NormedOutputsViT', out_type='raw', **common))
    normed.init_weights()
    with torch.no_grad():
        normed.ln1.weight.uniform_(0.5, 2)
        normed.ln1.bias.uniform_(-1, 1)
    plain = MODELS.build(dict(type='VisionTransformer', out_type='raw', final_norm=False,
                              **common))
    plain.load_state_dict({k: v for k, v in normed.state_dict().items()
                           if not k.startswith('ln1.')})
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ours, raw = normed(x), plain(x)
    assert len(ours) == 2
    for out, block in zip(ours, raw):  # (B, 1 + N, C) each, both blocks normalised
        torch.testing.assert_close(out, normed.ln1(block))
    assert set(normed.state_dict()) == set(plain.state_dict()) | {'ln1.weight', 'ln1.bias'}


BENCHMARKS = osp.join(ROOT, 'configs', 'benchmarks')


@pytest.mark.parametrize('config,differences,task,reference,cites,values', PROTOCOLS,
                         ids=[p[0] for p in PROTOCOLS])
def test_every_benchmark_config_holds_its_references_values(config, differences, task,
                                                            reference, cites, values):
    path = osp.join(BENCHMARKS, config)
    cfg = load_config(path)
    for key, want in values.items():
        got = lookup(cfg, key)
        if isinstance(want, (tuple, list)):
            got, want = list(got), list(want)
        assert got == want, f'{config}: {key} is {got!r}, the protocol says {want!r}'
    header = ''.join(line for line in open(path) if line.startswith('#'))
    assert cites in header, f'{config}: its header does not name its reference ({cites})'


def test_every_benchmark_config_has_a_protocol_entry_and_the_docs_show_the_table():
    import glob
    listed = {p[0] for p in PROTOCOLS}
    on_disk = {osp.basename(p) for p in glob.glob(osp.join(BENCHMARKS, '*.py'))
               if '_cpu' not in p}
    assert on_disk == listed, f'no protocol entry: {sorted(on_disk - listed)}; ' \
        f'entry without config: {sorted(listed - on_disk)}'
    page = open(osp.join(ROOT, 'docs', 'transfer.md')).read()
    assert markdown() in page, 'the protocol table in docs/transfer.md is stale: paste ' \
        '`python -m mimco_mm.benchmark.protocols` into it'
