"""RegisterViT (DINOv2 *_reg4): never resizes a position embedding on load, needs its CLS token,
and records its registers as extra tokens (timm equality: test_release_converters)."""
import pytest
import torch

from mimco_mm.models import RegisterViT

ARCH = dict(embed_dims=32, num_layers=1, num_heads=2, feedforward_channels=64)


def test_tokens_are_cls_registers_patches_and_loading_never_resizes():
    vit = RegisterViT(arch=ARCH, img_size=28, patch_size=7, out_type='raw',
                      num_register_tokens=3)
    assert vit.num_extra_tokens == 4 and vit.pos_embed.shape == (1, 1 + 16, 32)
    (tokens, ) = vit(torch.randn(2, 3, 28, 28))
    assert tokens.shape == (2, 1 + 3 + 16, 32)
    (featmap, ) = RegisterViT(arch=ARCH, img_size=28, patch_size=7, out_type='featmap')(
        torch.randn(2, 3, 28, 28))
    assert featmap.shape == (2, 32, 4, 4)  # the registers are skipped like the CLS token
    state = vit.state_dict()
    state['pos_embed'] = torch.zeros(1, 1 + 25, 32)  # a 5 x 5 grid
    with pytest.raises(ValueError, match=r'pos_embed: \(1, 26, 32\) in the checkpoint'):
        vit.load_state_dict(state)
    with pytest.raises(ValueError, match='needs the CLS token'):
        RegisterViT(arch=ARCH, img_size=28, patch_size=7, out_type='raw', with_cls_token=False)


def test_the_architecture_record_tells_registers_apart():
    from mmpretrain.models import VisionTransformer

    from mimco_mm.architecture import describe, differences
    plain = VisionTransformer(arch=ARCH, img_size=28, patch_size=7, out_type='raw')
    registers = RegisterViT(arch=ARCH, img_size=28, patch_size=7, out_type='raw')
    assert differences(describe(registers), describe(plain)) == \
        ['num_extra_tokens: checkpoint 5, model 1']
