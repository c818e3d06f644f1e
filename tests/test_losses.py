"""Each loss against a value computed by hand on a tiny tensor."""
import math

import pytest
import torch

from mimco_mm.models.losses import FeatureRegressionLoss, ImageInfoNCE, PatchInfoNCE


def test_patch_infonce_same_image_negatives():
    target = torch.tensor([[[2.0, 0.0], [0.0, 3.0]]])  # (B=1, N=2, D=2): norms differ on purpose
    mask = torch.tensor([[True, False]])
    pred = torch.tensor([[5.0, 0.0]])  # predicts patch 0
    # normalised: q = (1, 0); keys (1, 0), (0, 1) -> logits (1, 0) / tau
    assert PatchInfoNCE(temperature=1.0)(pred, target, mask).item() == pytest.approx(
        math.log(1 + math.exp(-1)), rel=1e-6)
    assert PatchInfoNCE(temperature=0.5)(pred, target, mask).item() == pytest.approx(
        math.log(1 + math.exp(-2)), rel=1e-6)


def test_patch_infonce_mean_over_masked_positions_only():
    target = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]])
    mask = torch.tensor([[True, False], [False, True]])
    pred = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # image 0 patch 0 right; image 1 patch 1 wrong
    right, wrong = math.log(1 + math.exp(-1)), math.log(1 + math.exp(1))
    assert PatchInfoNCE(1.0)(pred, target, mask).item() == pytest.approx((right + wrong) / 2, rel=1e-6)


def test_patch_infonce_batch_negatives_include_other_images():
    target = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[-1.0, 0.0], [0.0, -1.0]]])
    mask = torch.tensor([[True, False], [False, False]])
    pred = torch.tensor([[1.0, 0.0]])
    # logits against all 4 patches: (1, 0, -1, 0), positive = index 0
    expected = math.log(math.e + 2 + math.exp(-1)) - 1
    assert PatchInfoNCE(1.0, negatives='batch')(pred, target, mask).item() == pytest.approx(
        expected, rel=1e-6)
    # same-image negatives only see (1, 0)
    assert PatchInfoNCE(1.0)(pred, target, mask).item() == pytest.approx(
        math.log(1 + math.exp(-1)), rel=1e-6)


def test_image_infonce_single_process():
    pred = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    target = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    c = 1 / math.sqrt(2)
    row0 = math.log(math.e + math.exp(c)) - 1  # logits (1, c), label 0
    row1 = math.log(1 + math.exp(c)) - c       # logits (0, c), label 1
    assert ImageInfoNCE(1.0)(pred, target).item() == pytest.approx((row0 + row1) / 2, rel=1e-6)
    assert ImageInfoNCE(0.5)(pred, target).item() == pytest.approx(
        (math.log(math.exp(2) + math.exp(2 * c)) - 2 + math.log(1 + math.exp(2 * c)) - 2 * c) / 2,
        rel=1e-6)


def test_image_infonce_gradient_only_to_queries():
    pred = torch.tensor([[1.0, 0.5]], requires_grad=True)
    target = torch.tensor([[0.3, 1.0]], requires_grad=True)
    ImageInfoNCE(0.2)(pred, torch.cat([target, target.flip(1)])[:1]).backward()
    assert target.grad is None


@pytest.mark.parametrize('criterion,normalize,expected', [
    ('l1', 'none', 1.5),          # |1| and |2| averaged
    ('smooth_l1', 'none', 1.0),   # 0.5 * 1^2 and 2 - 0.5
    ('mse', 'none', 2.5),         # 1 and 4
    ('mse', 'l2', 1.0),           # unit (1, 0) vs (0, 1): 2 - 2 cos = 2, per-feature mean 1
    ('cosine', 'none', 1.0),      # orthogonal
])
def test_feature_regression(criterion, normalize, expected):
    pred = torch.tensor([[1.0, 0.0]]) if criterion in ('cosine',) or normalize == 'l2' \
        else torch.tensor([[1.0, 2.0]])
    target = torch.tensor([[0.0, 1.0]]) if criterion in ('cosine',) or normalize == 'l2' \
        else torch.tensor([[0.0, 0.0]])
    loss = FeatureRegressionLoss(criterion, normalize)(pred, target)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_feature_regression_with_mask_and_layer_norm():
    target = torch.tensor([[[1.0, 3.0], [5.0, 5.0]]])  # patch 0 layer-normed: (-1, 1) (eps aside)
    mask = torch.tensor([[True, False]])
    pred = torch.tensor([[-1.0, 1.0]])
    assert FeatureRegressionLoss('l1', 'layer')(pred, target, mask).item() == pytest.approx(0, abs=1e-4)


def test_bad_options_are_errors():
    with pytest.raises(ValueError, match='negatives'):
        PatchInfoNCE(negatives='global')
    with pytest.raises(ValueError, match='criterion'):
        FeatureRegressionLoss('l3')


def test_agreement_top1_counts_the_queries_whose_own_target_wins():
    """patch_top1 / img_top1: the share of queries whose positive has the highest logit."""
    torch.manual_seed(0)
    target = torch.randn(2, 4, 8)
    mask = torch.tensor([[True, False, True, True], [False, True, True, False]])
    pred = target[mask].clone()
    pred[0] = target[0, 1]  # query at (0, 0) looks exactly like patch (0, 1): a miss
    loss = PatchInfoNCE(temperature=0.2)
    loss(pred, target, mask)
    assert float(loss.last_top1) == pytest.approx(100 * 4 / 5)
    img = ImageInfoNCE(temperature=0.2)
    g_target = torch.randn(4, 8)
    g_pred = g_target.clone()
    g_pred[3] = g_target[2]  # image 3 predicts image 2's teacher feature
    img(g_pred, g_target)
    assert float(img.last_top1) == pytest.approx(75.0)
