"""The maps tools/visualization/visualize_attention.py draws: CLS attention weights are the ones the
last block really used, and the agreement map is the logged patch_top1, per position."""
import math

import pytest
import torch
from mmpretrain.registry import MODELS

from conftest import IMG, PATCH, masked_batch, tiny_mimco, tiny_vit
from mimco_mm.evaluation.maps import cls_attention, cls_attention_weights, patch_agreement


def test_recomputed_cls_weights_reproduce_the_blocks_own_output():
    torch.manual_seed(0)
    backbone = MODELS.build(tiny_vit('VisionTransformer', out_type='raw'))
    backbone.eval()  # mmpretrain's ViT.train() returns None: never chain
    images = torch.randn(2, 3, IMG, IMG)
    attn = backbone.layers[-1].attn
    seen = {}
    handle = attn.register_forward_hook(lambda _, args, out: seen.update(x=args[0], out=out))
    weights = cls_attention_weights(backbone, images)  # (B, heads, T)
    backbone(images)
    handle.remove()
    assert weights.shape == (2, attn.num_heads, 1 + (IMG // PATCH) ** 2)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, attn.num_heads))
    # weights @ v through the block's projection = the block's attention output for the CLS token
    x = seen['x']
    v = attn.qkv(x).reshape(*x.shape[:2], 3, attn.num_heads, attn.head_dims)[:, :, 2]
    mixed = torch.einsum('bht,bthd->bhd', weights, v).reshape(2, -1)
    torch.testing.assert_close(attn.proj(mixed), seen['out'][:, 0], rtol=1e-5, atol=1e-5)
    maps = cls_attention(backbone, images)
    assert maps.shape == (2, attn.num_heads, IMG // PATCH, IMG // PATCH)
    torch.testing.assert_close(maps.flatten(2), weights[:, :, 1:])


def test_a_backbone_without_cls_token_is_refused():
    backbone = MODELS.build(tiny_vit('VisionTransformer', out_type='featmap', with_cls_token=False))
    with pytest.raises(ValueError, match='no CLS token'):
        cls_attention(backbone, torch.randn(1, 3, IMG, IMG))


def test_agreement_map_averages_to_the_logged_patch_top1(teacher_checkpoint):
    torch.manual_seed(0)
    model = MODELS.build(tiny_mimco(teacher_checkpoint))
    model.eval()
    images, samples = masked_batch(seed=3)
    mask = torch.stack([s.mask for s in samples])
    agreement = patch_agreement(model, images, mask)
    assert agreement.shape == mask.shape
    assert torch.isnan(agreement[mask == 0]).all()
    assert set(agreement[mask == 1].unique().tolist()) <= {0.0, 1.0}
    with torch.no_grad():
        losses = model(images, samples, mode='loss')
    assert math.isclose(100 * agreement[mask == 1].mean().item(), losses['patch_top1'].item(),
                        abs_tol=1e-4)


def test_both_views_run_from_the_shell_on_the_chains_checkpoints(pretrain_chain, tmp_path):
    """tools/visualization/visualize_attention.py and visualize_features.py as the docs show them, in
    fresh processes: one attention row per checkpoint (plus MimCo's agreement row), one feature
    panel per checkpoint."""
    import os.path as osp

    from PIL import Image

    from conftest import make_image_folder, shell
    data = make_image_folder(str(tmp_path / 'data'), classes=2, per_class=4, size=32,
                             splits=('train', 'val'))
    config = 'configs/benchmarks/vit-tiny_knn_cpu.py'
    checkpoints = [pretrain_chain['teacher'], pretrain_chain['stage2']]
    image = osp.join(data, 'val', 'class_0', '0.png')
    done = shell('tools/visualization/visualize_attention.py', config, *checkpoints, '--names',
                 'teacher', 'MimCo', '--images', image, '--mimco', 'configs/mimco/vit-tiny_cpu.py',
                 pretrain_chain['stage2'], '--teacher', pretrain_chain['teacher'],
                 '--out', tmp_path / 'attention.png')
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    from tools.visualization import visualize_attention  # one row: in this process
    visualize_attention.main([config, checkpoints[0], '--images', image,
                              '--out', str(tmp_path / 'one.png')])
    tall, short = Image.open(tmp_path / 'attention.png'), Image.open(tmp_path / 'one.png')
    assert tall.size[1] > 2.5 * short.size[1]  # 3 rows (2 checkpoints + agreement) against 1
    done = shell('tools/visualization/visualize_features.py', config, *checkpoints,
                 '--out', tmp_path / 'features.png',
                 '--cfg-options', f'test_dataloader.dataset.data_root={data}')
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert Image.open(tmp_path / 'features.png').size[0] > 200
