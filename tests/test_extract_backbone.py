"""tools/model_converters/extract_backbone.py on a real stage-2 checkpoint."""
import pytest
import torch
from mmpretrain.models import VisionTransformer

from conftest import shell
from tools.model_converters import extract_backbone

TINY = dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256)


def _student(stage2):
    vit = VisionTransformer(arch=TINY, img_size=32, patch_size=4, out_type='raw')
    state = torch.load(stage2, weights_only=False)['state_dict']
    vit.load_state_dict({k[len('backbone.'):]: v for k, v in state.items()
                         if k.startswith('backbone.') and k != 'backbone.mask_token'}, strict=True)
    vit.eval()  # mmpretrain ViT.eval() returns None: never chain it
    return vit


def test_mmpretrain_format_loads_strictly(pretrain_chain, tmp_path):
    dst = tmp_path / 'student.pth'
    extract_backbone.main([pretrain_chain['stage2'], str(dst)])
    state = torch.load(dst, weights_only=True)['state_dict']
    assert 'mask_token' not in state and not any(k.startswith('backbone.') for k in state)
    vit = VisionTransformer(arch=TINY, img_size=32, patch_size=4)
    vit.load_state_dict(state, strict=True)
    reference = _student(pretrain_chain['stage2'])
    for key, value in reference.state_dict().items():
        assert torch.equal(vit.state_dict()[key], value), key


def test_timm_format_gives_the_same_features(pretrain_chain, tmp_path):
    import timm
    dst = tmp_path / 'student_timm.pth'
    extract_backbone.main([pretrain_chain['stage2'], str(dst), '--to', 'timm'])
    state = torch.load(dst, weights_only=True)['state_dict']
    model = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=4, embed_dim=64, depth=4, num_heads=4, mlp_ratio=4.0,
        qkv_bias=True, num_classes=0, global_pool='token').eval()
    model.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = _student(pretrain_chain['stage2'])(x)[0]  # (B, 1 + N, C) after the final norm
        got = model.forward_features(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_safetensors_exports_load_into_timm_and_back_into_our_configs(pretrain_chain, tmp_path):
    """DST.safetensors: flat tensors plus our meta as JSON; timm reads it as a state dict,
    init_cfg=Pretrained reads it with the architecture check."""
    import timm
    from mimco_mm.compat.safetensors_files import META_KEY
    from safetensors import safe_open
    dst = tmp_path / 'student_timm.safetensors'
    extract_backbone.main([pretrain_chain['stage2'], str(dst), '--to', 'timm'])
    model = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=4, embed_dim=64, depth=4, num_heads=4, mlp_ratio=4.0,
        qkv_bias=True, num_classes=0, global_pool='token').eval()
    timm.models.load_checkpoint(model, str(dst), strict=True)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = _student(pretrain_chain['stage2'])(x)[0]
        torch.testing.assert_close(model.forward_features(x), expected, atol=1e-5, rtol=1e-5)
    ours = tmp_path / 'student.safetensors'
    done = shell('tools/model_converters/extract_backbone.py', pretrain_chain['stage2'], ours)
    assert done.returncode == 0, done.stdout + done.stderr
    with safe_open(str(ours), framework='pt') as f:
        assert '"num_heads": 4' in f.metadata()[META_KEY]
    vit = VisionTransformer(arch=TINY, img_size=32, patch_size=4, out_type='raw', init_cfg=dict(
        type='Pretrained', checkpoint=str(ours), strict=True))
    vit.init_weights()
    vit.eval()
    with torch.no_grad():
        torch.testing.assert_close(vit(x)[0], expected, atol=1e-5, rtol=1e-5)
    wrong = VisionTransformer(arch=dict(TINY, num_heads=2), img_size=32, patch_size=4,
                              init_cfg=dict(type='Pretrained', checkpoint=str(ours), strict=True))
    from mimco_mm.architecture import ArchitectureMismatch
    with pytest.raises(ArchitectureMismatch, match='num_heads: checkpoint 4, model 2'):
        wrong.init_weights()  # the meta came back from the safetensors metadata


def test_a_truncated_safetensors_file_is_named(tmp_path):
    from safetensors.torch import save_file
    from mimco_mm.compat import CorruptCheckpointError, load_checkpoint_file
    path = tmp_path / 'model.safetensors'
    save_file({'w': torch.ones(1000)}, str(path))
    assert torch.equal(load_checkpoint_file(str(path))['w'], torch.ones(1000))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - 100])
    with pytest.raises(CorruptCheckpointError, match='model.safetensors is not a readable '
                                                      'safetensors file'):
        load_checkpoint_file(str(path))
