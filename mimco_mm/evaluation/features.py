"""Frozen features of a classifier-style model over a dataloader (k-NN, retrieval)."""
from typing import Tuple

import torch
from mmengine.utils import ProgressBar


@torch.no_grad()
def extract_features(model, dataloader, device='cpu') -> Tuple[torch.Tensor, torch.Tensor]:
    """Run `model.extract_feat` over `dataloader`.

    Args:
        model: an mmpretrain `ImageClassifier` (its data_preprocessor normalises the batch; its
            backbone's out_type picks the feature, e.g. 'cls_token').
        dataloader: yields mmpretrain batches (dict of inputs, data_samples with gt_label).
    Returns:
        features (N, D) float32 on the CPU, labels (N,) int64 (-1 where a sample has none).
    """
    from mimco_mm.evaluation.distributed import world
    model.eval()
    feats, labels = [], []
    # under a process group each process sees its shard; only the first one draws progress
    total = len(dataloader.sampler) if hasattr(dataloader.sampler, '__len__') else \
        len(dataloader.dataset)
    progress = ProgressBar(total) if world()[0] == 0 else None
    for batch in dataloader:
        data = model.data_preprocessor(batch, False)
        out = model.extract_feat(data['inputs'].to(device))
        out = out[-1] if isinstance(out, (tuple, list)) else out
        if out.dim() != 2:
            raise ValueError(f'expected (B, D) features, got {tuple(out.shape)}: set the '
                             f"backbone's out_type to 'cls_token' or 'avg_featmap'")
        feats.append(out.float().cpu())
        for sample in data['data_samples']:
            label = sample.gt_label if 'gt_label' in sample else None
            labels.append(int(label[0]) if label is not None and len(label) else -1)
        if progress is not None:
            progress.update(out.shape[0])
    return torch.cat(feats), torch.tensor(labels, dtype=torch.long)
