"""Released ViT checkpoints (timm / DeiT, DINO, iBOT, the hub's .safetensors) in their official
layouts, converted and loaded strictly into our teacher: its patch and global features equal
timm's on the same input."""
import argparse

import pytest
import torch

from mimco_mm.compat import load_checkpoint_file
from tools.model_converters import dino_to_mmpretrain, ibot_to_mmpretrain, timm_to_mmpretrain


@pytest.fixture(scope='module')
def timm_vit_s():
    """timm's ViT-S/16 (DeiT-S / DINO / iBOT architecture: 6 heads), random weights."""
    import timm
    torch.manual_seed(0)
    model = timm.create_model('vit_small_patch16_224', pretrained=False, num_classes=10)
    with torch.no_grad():  # non-trivial norms and biases, so a wrong mapping shows
        for name, p in model.named_parameters():
            if 'norm' in name or name.endswith('bias'):
                p.uniform_(-0.5, 1.5)
    return model.eval()


def official_layouts(model, root):
    """The files as the projects publish them: {name: (path, converter, extra args)}."""
    backbone = {k: v for k, v in model.state_dict().items() if not k.startswith('head.')}
    dino_head = {'head.mlp.0.weight': torch.randn(32, 384), 'head.last_layer.weight_g':
                 torch.ones(1, 16)}
    files = {
        'timm (DeiT layout)': (dict(model=model.state_dict()), timm_to_mmpretrain, ['--num-heads', '6']),
        'DINO backbone release': (backbone, dino_to_mmpretrain, ['--num-heads', '6']),
        'DINO full checkpoint': (dict(
            student={f'module.backbone.{k}': v + 1 for k, v in backbone.items()},
            teacher={**{f'backbone.{k}': v for k, v in backbone.items()}, **dino_head},
            epoch=100, args=argparse.Namespace(arch='vit_small', out_dim=65536)),
            dino_to_mmpretrain, []),
        'iBOT checkpoint_teacher': (dict(state_dict={**backbone,
                                                     'masked_embed': torch.randn(1, 384)}),
                                    ibot_to_mmpretrain, ['--num-heads', '6']),
    }
    out = {}
    for name, (content, converter, extra) in files.items():
        path = str(root / (name.replace(' ', '_') + '.pth'))
        torch.save(content, path)
        out[name] = (path, converter, extra)
    # the Hugging Face hub's timm release: model.safetensors, a bare state dict, classifier in
    from safetensors.torch import save_file
    hub = str(root / 'timm_hub_model.safetensors')
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, hub)
    out['timm hub model.safetensors'] = (hub, timm_to_mmpretrain, ['--num-heads', '6'])
    return out


def test_every_release_converts_to_the_features_timm_computes(timm_vit_s, tmp_path):
    from mimco_mm.models.teacher import ContrastiveTeacher
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        tokens = timm_vit_s.forward_features(images)  # (B, 1 + 196, 384) after the final norm
    for name, (src, converter, extra) in official_layouts(timm_vit_s, tmp_path).items():
        # a safetensors release is also written as one (our meta in its metadata)
        dst = str(tmp_path / (src.split('/')[-1] + '.converted.' + src.rsplit('.', 1)[-1]))
        converter.main([src, dst, *extra])
        teacher = ContrastiveTeacher(
            backbone=dict(type='VisionTransformer', arch=dict(
                embed_dims=384, num_layers=12, num_heads=6, feedforward_channels=1536),
                img_size=224, patch_size=16, out_type='raw'),
            checkpoint=dst)
        with torch.no_grad():
            targets = teacher(images)
        torch.testing.assert_close(targets.patch, tokens[:, 1:], rtol=1e-4, atol=1e-4, msg=name)
        torch.testing.assert_close(targets.global_, tokens[:, 0], rtol=1e-4, atol=1e-4, msg=name)
        meta = load_checkpoint_file(dst)['meta']
        assert meta['architecture']['backbone']['num_heads'] == 6, name
    assert dst.endswith('.safetensors')  # the last layout went through both directions


def test_dropped_tensors_are_named_and_a_12_head_teacher_is_refused(timm_vit_s, tmp_path, capsys):
    from mimco_mm.architecture import ArchitectureMismatch
    from mimco_mm.models.teacher import ContrastiveTeacher
    files = official_layouts(timm_vit_s, tmp_path)
    src, converter, extra = files['iBOT checkpoint_teacher']
    dst = str(tmp_path / 'ibot.pth')
    converter.main([src, dst, *extra])
    assert 'left out: masked_embed' in capsys.readouterr().out
    meta = torch.load(dst, weights_only=True)['meta']
    assert meta['dropped'] == ['masked_embed']
    src, converter, _ = files['DINO full checkpoint']
    converter.main([src, dst])
    out = capsys.readouterr().out
    assert 'left out: head.mlp.0.weight' in out and '6 heads' in out  # from args.arch
    with pytest.raises(ArchitectureMismatch, match='num_heads: checkpoint 6, model 12'):
        ContrastiveTeacher(backbone=dict(type='VisionTransformer', arch=dict(
            embed_dims=384, num_layers=12, num_heads=12, feedforward_channels=1536),
            img_size=224, patch_size=16, out_type='raw'), checkpoint=dst)


def test_an_unknown_tensor_is_an_error_not_a_silent_drop(tmp_path):
    torch.save({'cls_token': torch.zeros(1, 1, 8), 'reg_token': torch.zeros(1, 4, 8)},
               tmp_path / 'odd.pth')
    with pytest.raises(KeyError, match='reg_token'):
        timm_to_mmpretrain.main([str(tmp_path / 'odd.pth'), str(tmp_path / 'out.pth'),
                                 '--num-heads', '2'])
    assert not (tmp_path / 'out.pth').exists()


@pytest.fixture(scope='module')
def open_clip_b16():
    """open_clip's ViT-B/16 with QuickGELU (OpenAI CLIP's architecture), random weights (no
    download: pretrained=None)."""
    import open_clip  # a test dependency (requirements/runtime.txt)
    torch.manual_seed(0)
    model = open_clip.create_model('ViT-B-16-quickgelu', pretrained=None)
    with torch.no_grad():  # non-trivial norms and biases, so a wrong mapping shows
        for name, p in model.visual.named_parameters():
            if 'ln_' in name or name.endswith('bias'):
                p.uniform_(-0.5, 1.5)
    model.visual.output_tokens = True
    return model.eval()


class _Visual(torch.nn.Module):
    """What OpenAI's TorchScript release holds under `visual.` (its tensors are all we read)."""

    def __init__(self, visual):
        super().__init__()
        self.visual = visual

    def forward(self, x):
        return self.visual(x)[0]


def test_clip_converts_to_the_features_open_clip_computes(open_clip_b16, tmp_path, capsys):
    from mimco_mm.models.teacher import ContrastiveTeacher
    from tools.model_converters import clip_to_mmpretrain
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        embedding, tokens = open_clip_b16.visual(images)  # (B, 512) ln_post(CLS) @ proj; (B, 196, 768)
    plain = str(tmp_path / 'open_clip_pytorch_model.bin')
    torch.save(open_clip_b16.state_dict(), plain)  # text tower included, as released
    scripted = str(tmp_path / 'ViT-B-16.pt')
    with torch.no_grad():
        torch.jit.trace(_Visual(open_clip_b16.visual), images[:1], check_trace=False).save(scripted)
    for src in (plain, scripted):
        dst = src + '.converted.pth'
        clip_to_mmpretrain.main([src, dst])
        teacher = ContrastiveTeacher(
            backbone=dict(type='VisionTransformer', arch='b', img_size=224, patch_size=16,
                          out_type='raw', **clip_to_mmpretrain.CLIP_VIT),
            neck=dict(type='ProjectionMatrix', in_channels=768, out_channels=512),
            global_target='projector', checkpoint=dst)
        with torch.no_grad():
            targets = teacher(images)
        torch.testing.assert_close(targets.patch, tokens, rtol=1e-4, atol=1e-4, msg=src)
        torch.testing.assert_close(targets.global_, embedding, rtol=1e-4, atol=1e-4, msg=src)
        arch = torch.load(dst, weights_only=True)['meta']['architecture']['backbone']
        assert (arch['num_heads'], arch['activation'], arch['pre_norm'], arch['ln_eps']) == \
            (12, 'QuickGELU', True, 1e-5)
    out = capsys.readouterr().out
    assert 'left out: token_embedding.weight' in out and 'left out: logit_scale' in out


def test_clip_converter_runs_from_the_shell_as_documented(open_clip_b16, tmp_path):
    """`python tools/model_converters/clip_to_mmpretrain.py SRC DST` in a fresh process, as a
    user runs it: no test has set a registry scope there, and CLIP's QuickGELU must still build."""
    from conftest import shell
    src, dst = str(tmp_path / 'open_clip_visual.bin'), str(tmp_path / 'clip_teacher.pth')
    torch.save({f'visual.{k}': v for k, v in open_clip_b16.visual.state_dict().items()}, src)
    done = shell('tools/model_converters/clip_to_mmpretrain.py', src, dst, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f'wrote {dst}' in done.stdout
    arch = torch.load(dst, weights_only=True)['meta']['architecture']['backbone']
    assert (arch['num_heads'], arch['activation']) == (12, 'QuickGELU')


def test_a_clip_tower_refuses_a_gelu_teacher(open_clip_b16, tmp_path):
    """Activation is in no weight's shape: a DeiT-style config (GELU) fed CLIP weights would
    load strictly and compute other features; the recorded architecture stops it."""
    from mimco_mm.architecture import ArchitectureMismatch
    from mimco_mm.models.teacher import ContrastiveTeacher
    from tools.model_converters import clip_to_mmpretrain
    src, dst = str(tmp_path / 'clip.bin'), str(tmp_path / 'clip.pth')
    torch.save({f'visual.{k}': v for k, v in open_clip_b16.visual.state_dict().items()}, src)
    clip_to_mmpretrain.main([src, dst])
    gelu = dict(clip_to_mmpretrain.CLIP_VIT, layer_cfgs=dict())
    with pytest.raises(ArchitectureMismatch, match="activation: checkpoint 'QuickGELU', model 'GELU'"):
        ContrastiveTeacher(backbone=dict(type='VisionTransformer', arch='b', img_size=224,
                                         patch_size=16, out_type='raw', **gelu),
                           checkpoint=dst)


@pytest.fixture(scope='module')
def timm_dinov2_s():
    """timm's ViT-S/14 DINOv2 (layer scale, patch 14, 518 px: DINOv2's torch.hub layout),
    random weights; the release adds `mask_token`."""
    import timm
    torch.manual_seed(0)
    model = timm.create_model('vit_small_patch14_dinov2', pretrained=False, img_size=518)
    with torch.no_grad():  # non-trivial norms, biases and layer scales, so a wrong mapping shows
        for name, p in model.named_parameters():
            if 'norm' in name or name.endswith('bias') or '.gamma' in name:
                p.uniform_(-0.5, 1.5)
    return model.eval()


def assert_same_features(timm_model, checkpoint, size, registers=0):
    """Our teacher loading `checkpoint` at `size` px gives `timm_model`'s patch tokens and CLS
    token (both after the final norm) on the same image; `registers`: a RegisterViT teacher."""
    from mimco_mm.models.teacher import ContrastiveTeacher
    backbone = dict(type='VisionTransformer', arch='deit-small', img_size=size, patch_size=14,
                    layer_scale_init_value=1e-5, out_type='raw')
    if registers:
        backbone.update(type='RegisterViT', num_register_tokens=registers)
    teacher = ContrastiveTeacher(backbone=backbone, checkpoint=checkpoint)
    images = torch.randn(1, 3, size, size)
    with torch.no_grad():
        tokens = timm_model.forward_features(images)  # CLS, registers, patches
        targets = teacher(images)
    torch.testing.assert_close(targets.patch, tokens[:, 1 + registers:], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(targets.global_, tokens[:, 0], rtol=1e-4, atol=1e-4)


def test_dinov2_converts_to_the_features_it_computes_at_its_size_and_at_ours(timm_dinov2_s,
                                                                             tmp_path, capsys):
    import timm
    import torch.nn.functional as F
    from tools.model_converters import dinov2_to_mmpretrain
    src = str(tmp_path / 'dinov2_vits14_pretrain.pth')
    torch.save({**timm_dinov2_s.state_dict(), 'mask_token': torch.zeros(1, 384)}, src)

    # at the release's own 518 px: the same network
    dinov2_to_mmpretrain.main([src, str(tmp_path / 'native.pth')])  # heads from 384 / 64
    assert_same_features(timm_dinov2_s, str(tmp_path / 'native.pth'), 518)
    assert 'left out: mask_token' in capsys.readouterr().out

    # at 196 px (the 14 x 14 grid of a 16-px student at 224): the position embedding as DINOv2's
    # interpolate_pos_encoding computes it for 196 px (bicubic, scale (14 + 0.1) / 37)
    dinov2_to_mmpretrain.main([src, str(tmp_path / '196.pth'), '--img-size', '196'])
    pos = timm_dinov2_s.pos_embed.detach()
    grid = pos[:, 1:].reshape(1, 37, 37, 384).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=(14.1 / 37, 14.1 / 37), mode='bicubic')
    at_196 = timm.create_model('vit_small_patch14_dinov2', pretrained=False, img_size=196).eval()
    state = dict(timm_dinov2_s.state_dict())
    state['pos_embed'] = torch.cat([pos[:, :1], grid.flatten(2).transpose(1, 2)], dim=1)
    at_196.load_state_dict(state)
    assert_same_features(at_196, str(tmp_path / '196.pth'), 196)
    meta = torch.load(tmp_path / '196.pth', weights_only=True)['meta']
    assert meta['architecture']['backbone']['img_size'] == [196, 196]
    assert meta['architecture']['backbone']['layer_scale'] is True
    assert meta['pos_embed_resampled']['from_tokens'] == 1 + 37 * 37
    assert meta['pos_embed_resampled']['to_tokens'] == 1 + 14 * 14
    # the 518-px file in the 196-px teacher: an error (mmpretrain would resize it its own way)
    from mimco_mm.models.teacher import ContrastiveTeacher
    with pytest.raises(ValueError, match=r'37 x 37 \(518 px at patch 14\) patch grid, the '
                                         r'configured teacher runs at 14 x 14 \(196 px at patch '
                                         r'14\)\. .*--img-size 196'):
        ContrastiveTeacher(backbone=dict(type='VisionTransformer', arch='deit-small',
                                         img_size=196, patch_size=14, out_type='raw',
                                         layer_scale_init_value=1e-5),
                           checkpoint=str(tmp_path / 'native.pth'))
    # a teacher config without layer scale is an error, never a ViT without it
    with pytest.raises(KeyError, match=r"unexpected \['layers.0.attn.gamma1.weight'"):
        ContrastiveTeacher(backbone=dict(type='VisionTransformer', arch='deit-small',
                                         img_size=196, patch_size=14, out_type='raw'),
                           checkpoint=str(tmp_path / '196.pth'))


def test_dinov2_chunked_blocks_read_and_swiglu_refused(tmp_path):
    from tools.model_converters import dinov2_to_mmpretrain
    torch.manual_seed(0)
    vit = dict(cls_token=torch.randn(1, 1, 128), pos_embed=torch.randn(1, 5, 128),
               **{'patch_embed.proj.weight': torch.randn(128, 3, 14, 14),
                  'patch_embed.proj.bias': torch.randn(128), 'norm.weight': torch.randn(128),
                  'norm.bias': torch.randn(128)})
    block = {'norm1.weight': (128, ), 'norm1.bias': (128, ), 'attn.qkv.weight': (384, 128),
             'attn.qkv.bias': (384, ), 'attn.proj.weight': (128, 128), 'attn.proj.bias': (128, ),
             'ls1.gamma': (128, ), 'norm2.weight': (128, ), 'norm2.bias': (128, ),
             'mlp.fc1.weight': (512, 128), 'mlp.fc1.bias': (512, ), 'mlp.fc2.weight': (128, 512),
             'mlp.fc2.bias': (128, ), 'ls2.gamma': (128, )}
    # a training checkpoint: teacher.backbone.*, FSDP chunk 0 holding blocks 0-1
    chunked = {f'backbone.blocks.0.{i}.{k}': torch.randn(shape) for i in range(2)
               for k, shape in block.items()}
    chunked.update({f'backbone.{k}': v for k, v in vit.items()})
    chunked['dino_head.last_layer.weight'] = torch.randn(8, 128)
    torch.save(dict(teacher=chunked), tmp_path / 'train.pth')
    dinov2_to_mmpretrain.main([str(tmp_path / 'train.pth'), str(tmp_path / 'out.pth')])
    state = torch.load(tmp_path / 'out.pth', weights_only=True)['state_dict']
    assert torch.equal(state['backbone.layers.1.attn.gamma1.weight'],
                       chunked['backbone.blocks.0.1.ls1.gamma'])
    meta = torch.load(tmp_path / 'out.pth', weights_only=True)['meta']
    assert meta['architecture']['backbone']['num_heads'] == 2  # 128 / 64
    assert meta['dropped'] == ['dino_head.last_layer.weight']

    flat = {k.replace('backbone.', '').replace('blocks.0.', 'blocks.'): v
            for k, v in chunked.items() if k.startswith('backbone.')}
    swiglu = {k.replace('mlp.fc1.', 'mlp.w12.'): v for k, v in flat.items()}
    torch.save(swiglu, tmp_path / 'giant.pth')
    with pytest.raises(ValueError, match='SwiGLU'):
        dinov2_to_mmpretrain.main([str(tmp_path / 'giant.pth'), str(tmp_path / 'x.pth')])
    assert not (tmp_path / 'x.pth').exists()
    with pytest.raises(ValueError, match='not a multiple of the patch size 14'):
        dinov2_to_mmpretrain.main([str(tmp_path / 'train.pth'), str(tmp_path / 'x.pth'),
                                   '--img-size', '200'])


def test_dinov2_with_registers_converts_to_the_features_timm_computes(tmp_path):
    """A *_reg4 release: timm's `vit_small_patch14_reg4_dinov2` holds the same network with the
    CLS token's position entry folded into the CLS token (timm's own DINOv2 conversion), so the
    release is rebuilt from it with a random position entry for CLS."""
    import timm
    import torch.nn.functional as F
    from mimco_mm.models.teacher import ContrastiveTeacher
    from tools.model_converters import dinov2_to_mmpretrain
    torch.manual_seed(0)
    model = timm.create_model('vit_small_patch14_reg4_dinov2', pretrained=False,
                              img_size=518).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'norm' in name or name.endswith('bias') or '.gamma' in name or 'reg_' in name:
                p.uniform_(-0.5, 1.5)
    timm_state = dict(model.state_dict())
    cls_pos = torch.randn(1, 1, 384)
    release = {k: v for k, v in timm_state.items() if k not in ('reg_token', 'cls_token',
                                                                'pos_embed')}
    release.update(register_tokens=timm_state['reg_token'],
                   cls_token=timm_state['cls_token'] - cls_pos,
                   pos_embed=torch.cat([cls_pos, timm_state['pos_embed']], dim=1),
                   mask_token=torch.zeros(1, 384))
    src = str(tmp_path / 'dinov2_vits14_reg4_pretrain.pth')
    torch.save(release, src)

    dinov2_to_mmpretrain.main([src, str(tmp_path / 'native.pth')])
    assert_same_features(model, str(tmp_path / 'native.pth'), 518, registers=4)
    meta = torch.load(tmp_path / 'native.pth', weights_only=True)['meta']
    assert meta['architecture']['backbone']['num_extra_tokens'] == 5

    # at 196 px: the position embedding resampled as DINOv2 does (registers have none)
    dinov2_to_mmpretrain.main([src, str(tmp_path / '196.pth'), '--img-size', '196'])
    grid = timm_state['pos_embed'].reshape(1, 37, 37, 384).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=(14.1 / 37, 14.1 / 37), mode='bicubic')
    at_196 = timm.create_model('vit_small_patch14_reg4_dinov2', pretrained=False,
                               img_size=196).eval()
    at_196.load_state_dict({**timm_state, 'pos_embed': grid.flatten(2).transpose(1, 2)})
    assert_same_features(at_196, str(tmp_path / '196.pth'), 196, registers=4)

    # a plain ViT teacher config refuses the file (it has no place for the registers)
    with pytest.raises(KeyError, match=r"unexpected \['register_tokens'\]"):
        ContrastiveTeacher(backbone=dict(type='VisionTransformer', arch='deit-small',
                                         img_size=196, patch_size=14, out_type='raw',
                                         layer_scale_init_value=1e-5),
                           checkpoint=str(tmp_path / '196.pth'))
