"""The architecture travels with the weights and is checked at every load: a 12-head ViT-S
checkpoint (MoCo v3's, or our 12-head ablation) has exactly the tensor shapes of a 6-head one,
so only the recorded architecture can stop it from being evaluated as a different network."""
import copy
import fnmatch
import os.path as osp

import pytest
import torch
from mmpretrain.registry import MODELS

from conftest import tiny_projector, tiny_vit
from mimco_mm.architecture import ArchitectureMismatch, check, describe, record
from tools._common import ROOT, load_config

VIT_S_CONFIGS = [
    'configs/benchmarks/mask-rcnn_vit-s_fpn_ms-1x_coco.py',
    'configs/benchmarks/mask-rcnn_vit-s_simple-fpn_lsj-100e_coco.py',
    'configs/benchmarks/cascade-mask-rcnn_vit-s_fpn_giou-4conv1f_ms-1x_coco.py',
    'configs/benchmarks/upernet_vit-s_8xb2-160k_ade20k-512x512.py',
    'configs/benchmarks/vit-s_linear-90e_in1k.py',
    'configs/benchmarks/vit-s_ft-200e_in1k.py',
    'configs/benchmarks/vit-s_ft-ibot-200e_in1k.py',
    'configs/benchmarks/vit-s_knn_in1k.py',
]
VIT_B_CONFIGS = [
    'configs/benchmarks/mask-rcnn_vit-b_simple-fpn_lsj-100e_coco.py',
    'configs/benchmarks/upernet_vit-b_8xb2-160k_ade20k-512x512.py',
    'configs/benchmarks/vit-b_linear-90e_in1k.py',
    'configs/benchmarks/vit-b_ft-100e_in1k.py',
    'configs/benchmarks/vit-b_knn_in1k.py',
]
# width, FFN, the configs' head count, another head count with the same tensor shapes
FAMILIES = {'vit-s': (384, 1536, 6, 12), 'vit-b': (768, 3072, 12, 16)}


def _student_checkpoint(path, embed_dims, num_heads, ffn):
    """A stage-2-like file: a MimCoViT student under `backbone.` and its recorded architecture."""
    torch.manual_seed(num_heads)
    student = MODELS.build(dict(type='MimCoViT', arch=dict(
        embed_dims=embed_dims, num_layers=12, num_heads=num_heads, feedforward_channels=ffn),
        img_size=224, patch_size=16, out_type='raw'))
    state = {'backbone.' + k: v for k, v in student.state_dict().items()}
    torch.save(dict(state_dict=state, meta=dict(architecture={'backbone': describe(student)})),
               path)
    return state


@pytest.fixture(scope='module')
def students(tmp_path_factory):
    """{family: {heads: (path, state)}}: stage-2-like files of both head counts per family."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')  # module fixtures run before the per-test scope reset
    root = tmp_path_factory.mktemp('arch')
    files = {}
    for family, (dims, ffn, right, wrong) in FAMILIES.items():
        for heads in (right, wrong):
            path = str(root / f'{family}_{heads}heads.pth')
            files.setdefault(family, {})[heads] = (path, _student_checkpoint(path, dims, heads, ffn))
    return files


@pytest.fixture(scope='module')
def vit_s(students):
    return students['vit-s']


def _backbone(config, checkpoint):
    cfg = copy.deepcopy(load_config(osp.join(ROOT, config)).model.backbone)
    cfg.init_cfg.checkpoint = checkpoint
    return MODELS.build(cfg)


@pytest.mark.parametrize('family,config', [('vit-s', c) for c in VIT_S_CONFIGS] +
                         [('vit-b', c) for c in VIT_B_CONFIGS])
def test_downstream_configs_refuse_another_head_count_and_take_every_tensor(family, config,
                                                                            students):
    _, _, right_heads, wrong_heads = FAMILIES[family]
    wrong = _backbone(config, students[family][wrong_heads][0])
    with pytest.raises(ArchitectureMismatch,
                       match=f'num_heads: checkpoint {wrong_heads}, model {right_heads}'):
        wrong.init_weights()
    path, state = students[family][right_heads]
    right = _backbone(config, path)
    right.init_weights()
    own = right.state_dict()
    assert len(own) > 100
    allowed_new = load_config(osp.join(ROOT, config)).model.backbone.init_cfg.get(
        'allow_missing', [])
    new = [k for k in own if 'backbone.' + k not in state]
    # only what the config declares new (a fresh norm; ViTDet's rel-pos tables, zero at start)
    assert all(any(fnmatch.fnmatch(k, p) for p in allowed_new) for k in new), new
    for key in new:
        if 'rel_pos' in key:
            assert not own[key].any(), f'{key} must start at zero'
    arrived = 0
    for key, value in own.items():
        theirs = state.get('backbone.' + key)
        if theirs is None:
            continue
        if key == 'pos_embed' and value.shape != theirs.shape:
            continue  # resized to the downstream resolution (UPerNet at 512 px, ViTDet 1024)
        assert torch.equal(value, theirs), key
        arrived += 1
    assert arrived >= len(own) - len(new) - 1


def test_swin_description_and_mismatch():
    tiny = MODELS.build(dict(type='SwinTransformer', arch='tiny'))
    other = MODELS.build(dict(type='SwinTransformer', arch=dict(
        embed_dims=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 12])))
    assert describe(tiny)['num_heads'] == [3, 6, 12, 24]
    assert describe(tiny)['depths'] == [2, 2, 6, 2] and describe(tiny)['window_size'] == [7, 7]
    checkpoint = dict(meta=dict(architecture={'backbone': describe(other)}))
    with pytest.raises(ArchitectureMismatch, match=r'num_heads: checkpoint \[3, 6, 12, 12\]'):
        check(tiny, checkpoint, 'backbone.', 'swin.pth')
    check(other, checkpoint, 'backbone.', 'swin.pth')  # the same network passes


SWIN_T_CONFIGS = [
    'configs/benchmarks/mask-rcnn_swin-t_fpn_1x_coco.py',
    'configs/benchmarks/mask-rcnn_swin-t_fpn_ms-crop-1x_coco.py',
    'configs/benchmarks/mask-rcnn_swin-t_fpn_ms-crop-3x_coco.py',
    'configs/benchmarks/upernet_swin-t_8xb2-160k_ade20k-512x512.py',
]


@pytest.fixture(scope='module')
def swin_students(tmp_path_factory):
    """A Swin-T MimCo student (SimMIMSwinTransformer, last stage normalised) and one whose last
    stage has 12 heads instead of 24, each with its recorded architecture."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    root = tmp_path_factory.mktemp('swin')
    files = {}
    for name, arch in (('tiny', 'tiny'), ('12heads', dict(embed_dims=96, depths=[2, 2, 6, 2],
                                                          num_heads=[3, 6, 12, 12]))):
        torch.manual_seed(1)
        student = MODELS.build(dict(type='SimMIMSwinTransformer', arch=arch, img_size=224,
                                    out_indices=(3, )))
        state = {'backbone.' + k: v for k, v in student.state_dict().items()}
        path = str(root / f'swin_{name}.pth')
        torch.save(dict(state_dict=state, meta=dict(architecture={'backbone': describe(student)})),
                   path)
        files[name] = (path, state)
    return files


@pytest.mark.parametrize('config', SWIN_T_CONFIGS)
def test_swin_configs_take_every_student_tensor_and_refuse_another_swin(config, swin_students):
    wrong = _backbone(config, swin_students['12heads'][0])
    with pytest.raises(ArchitectureMismatch, match=r'num_heads: checkpoint \[3, 6, 12, 12\]'):
        wrong.init_weights()
    path, state = swin_students['tiny']
    right = _backbone(config, path)
    right.init_weights()
    new = []
    for key, value in right.state_dict().items():
        theirs = state.get('backbone.' + key)
        if theirs is None:
            new.append(key)
            continue
        assert torch.equal(value, theirs), key
    # only the norms of stages 0-2 are new; every other tensor came from the student
    assert sorted({k.split('.')[0] for k in new}) == ['norm0', 'norm1', 'norm2'], new
    assert len(state) - 1 == len(right.state_dict()) - len(new)  # all but the mask token used


def test_checkpoint_without_a_recorded_architecture_is_refused(tmp_path):
    vit = MODELS.build(tiny_vit(out_type='raw'))
    path = tmp_path / 'third_party.pth'
    torch.save({'state_dict': {'backbone.' + k: v for k, v in vit.state_dict().items()}}, path)
    with pytest.raises(ArchitectureMismatch, match='does not record the architecture'):
        MODELS.build(dict(type='ContrastiveTeacher', backbone=tiny_vit(out_type='raw'),
                          checkpoint=str(path)))


def test_teacher_refuses_a_checkpoint_of_another_head_count(tmp_path):
    """The 12-head MoCo v3 teacher must be configured with 12 heads (it is not DeiT-S)."""
    twelve = tiny_vit(out_type='raw', arch=dict(embed_dims=32, num_layers=2, num_heads=4,
                                                 feedforward_channels=64))
    vit = MODELS.build(twelve)
    path = tmp_path / 'teacher.pth'
    torch.save({'state_dict': {'backbone.' + k: v for k, v in vit.state_dict().items()},
                'meta': {'architecture': {'backbone': describe(vit)}}}, path)
    with pytest.raises(ArchitectureMismatch, match='num_heads: checkpoint 4, model 2'):
        MODELS.build(dict(type='ContrastiveTeacher', backbone=tiny_vit(out_type='raw'),
                          checkpoint=str(path)))
    teacher = MODELS.build(dict(type='ContrastiveTeacher', backbone=twelve, checkpoint=str(path)))
    assert teacher.backbone.layers[0].attn.num_heads == 4


def test_record_finds_every_backbone_once():
    model = MODELS.build(dict(
        type='MoCoV3', base_momentum=0.01, backbone=tiny_vit(), neck=tiny_projector(),
        head=dict(type='MoCoV3Head', predictor=dict(tiny_projector(16, 16), num_layers=2),
                  loss=dict(type='CrossEntropyLoss', loss_weight=0.4), temperature=0.2)))
    recorded = record(model)
    assert set(recorded) == {'backbone', 'momentum_encoder.module.0'}
    assert recorded['backbone']['num_heads'] == 2 and recorded['backbone']['family'] == 'vit'


def test_train_tool_records_the_architecture_in_every_checkpoint(pretrain_chain):
    from mimco_mm.compat import load_checkpoint_file
    meta = load_checkpoint_file(pretrain_chain['stage2'])['meta']
    assert set(meta['architecture']) == {'backbone', 'teacher.backbone'} or \
        set(meta['architecture']) == {'backbone', 'target_generator.backbone'}
    stage1 = load_checkpoint_file(pretrain_chain['teacher'])['meta']['architecture']
    assert stage1['backbone']['num_heads'] == stage1['momentum_encoder.module.0']['num_heads']


@pytest.mark.parametrize('config', VIT_S_CONFIGS)
def test_transfer_reads_the_head_count_and_the_12_head_checkpoint_loads_as_12_heads(config,
                                                                                    vit_s):
    from mimco_mm.architecture import benchmark_arch
    path, state = vit_s[12]
    name, options = benchmark_arch(path)
    assert (name, options) == ('vit-s', ['model.backbone.arch.num_heads=12'])
    assert benchmark_arch(vit_s[6][0]) == ('vit-s', [])
    cfg = load_config(osp.join(ROOT, config), {'model.backbone.arch.num_heads': 12})
    backbone_cfg = copy.deepcopy(cfg.model.backbone)
    backbone_cfg.init_cfg.checkpoint = path
    backbone = MODELS.build(backbone_cfg)
    backbone.init_weights()  # no mismatch: evaluated as the network it was trained as
    assert backbone.layers[0].attn.num_heads == 12
    assert torch.equal(backbone.layers[3].attn.qkv.weight,
                       state['backbone.layers.3.attn.qkv.weight'])


def test_load_from_a_checkpoint_of_another_head_count_is_refused(pretrain_chain, tmp_path):
    from conftest import run_train
    common = [f'train_dataloader.dataset.data_root={pretrain_chain["data"]}',
              f'model.teacher.checkpoint={pretrain_chain["teacher"]}',
              'train_dataloader.batch_size=8', 'train_cfg.max_epochs=1',
              f'load_from={pretrain_chain["stage2"]}']
    with pytest.raises(ArchitectureMismatch, match='num_heads: checkpoint 4, model 2'):
        run_train('configs/mimco/vit-tiny_cpu.py', tmp_path / 'two_heads', *common,
                  'model.backbone.arch.num_heads=2')
    runner = run_train('configs/mimco/vit-tiny_cpu.py', tmp_path / 'same', *common)
    assert runner.iter == 2  # the matching architecture loads and trains


def test_transfer_reads_swin_t_and_refuses_another_swin(swin_students):
    from mimco_mm.architecture import benchmark_arch
    assert benchmark_arch(swin_students['tiny'][0]) == ('swin-t', [])
    with pytest.raises(ArchitectureMismatch, match='the swin-t configs build'):
        benchmark_arch(swin_students['12heads'][0])
