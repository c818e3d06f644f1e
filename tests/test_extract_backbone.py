"""tools/model_converters/extract_backbone.py on a real stage-2 checkpoint."""
import torch
from mmpretrain.models import VisionTransformer

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
