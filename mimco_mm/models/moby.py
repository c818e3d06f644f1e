"""MoBY (Xie et al., "Self-Supervised Learning with Swin Transformers", arXiv 2105.04553): the
stage-1 contrastive teacher of the Swin family. mmpretrain has no MoBY, so it lives here.

MoCo v2's momentum encoder and key queues plus BYOL's predictor and asymmetric drop path: the
online branch (backbone, projector, predictor) predicts the momentum branch's projection of the
other view; negatives come from a queue of past keys (one queue per view), InfoNCE at tau 0.2.
"""
from typing import Dict, List

import torch
import torch.nn.functional as F
from mmengine.dist import all_gather
from mmengine.model import BaseModule
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.models.utils import CosineEMA
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn


@MODELS.register_module()
class MoBYHead(BaseModule):
    """Predictor + InfoNCE with one positive and a queue of negatives.

    Args:
        predictor: the online predictor (e.g. a 2-layer `NonLinearNeck`).
        temperature: tau.
    """

    def __init__(self, predictor: dict, temperature: float = 0.2, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.predictor = MODELS.build(predictor)
        self.temperature = temperature

    def loss(self, projection: torch.Tensor, key: torch.Tensor,
             queue: torch.Tensor) -> torch.Tensor:
        """
        Args:
            projection: (B, D) online projection of one view.
            key: (B, D) momentum projection of the other view, L2-normalised.
            queue: (D, K) past keys, L2-normalised.
        Returns:
            scalar InfoNCE, the positive at index 0.
        """
        query = F.normalize(self.predictor([projection])[0].float(), dim=1)
        positive = (query * key.float()).sum(dim=1, keepdim=True)  # (B, 1)
        negative = query @ queue.float()  # (B, K)
        logits = torch.cat([positive, negative], dim=1) / self.temperature
        labels = torch.zeros(query.shape[0], dtype=torch.long, device=query.device)
        return F.cross_entropy(logits, labels)


@MODELS.register_module()
class MoBY(BaseSelfSupervisor):
    """MoBY pre-training.

    Args:
        backbone / neck / head: online encoder, projector (`NonLinearNeck` with avg-pool for Swin
            feature maps) and `MoBYHead`.
        base_momentum: 1 - the momentum at the start (0.01 = MoBY's 0.99), cosine to 1.
        queue_len: negatives per queue (4096).
        feat_dim: projection width (256).
        target_drop_path_rate: drop path in the momentum encoder (MoBY: 0.0, online 0.2).
    """

    def __init__(self, backbone: dict, neck: dict, head: dict, base_momentum: float = 0.01,
                 queue_len: int = 4096, feat_dim: int = 256, target_drop_path_rate: float = 0.0,
                 data_preprocessor=None, init_cfg=None):
        super().__init__(backbone=backbone, neck=neck, head=head,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.momentum_encoder = CosineEMA(nn.Sequential(self.backbone, self.neck),
                                          momentum=base_momentum)
        for module in self.momentum_encoder.modules():  # asymmetric drop path
            if hasattr(module, 'drop_prob'):
                module.drop_prob = target_drop_path_rate
        self.queue_len = queue_len
        self.register_buffer('queue1', F.normalize(torch.randn(feat_dim, queue_len), dim=0))
        self.register_buffer('queue2', F.normalize(torch.randn(feat_dim, queue_len), dim=0))
        self.register_buffer('queue_ptr', torch.zeros(1, dtype=torch.long))

    @torch.no_grad()
    def _enqueue(self, key1: torch.Tensor, key2: torch.Tensor) -> None:
        """Append the keys of every process (B x world) to the queues, oldest overwritten."""
        key1, key2 = torch.cat(all_gather(key1)), torch.cat(all_gather(key2))
        ptr = int(self.queue_ptr)
        index = (torch.arange(key1.shape[0], device=key1.device) + ptr) % self.queue_len
        self.queue1[:, index] = key1.T.to(self.queue1.dtype)
        self.queue2[:, index] = key2.T.to(self.queue2.dtype)
        self.queue_ptr[0] = (ptr + key1.shape[0]) % self.queue_len

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """
        Args:
            inputs: two views, each (B, 3, H, W).
        Returns:
            dict(loss): symmetric InfoNCE, view 1 predicting view 2's key and vice versa.
        """
        view1, view2 = inputs
        proj1 = self.neck(self.backbone(view1))[0]  # (B, D)
        proj2 = self.neck(self.backbone(view2))[0]
        with torch.no_grad():
            self.momentum_encoder.update_parameters(nn.Sequential(self.backbone, self.neck))
            key1 = F.normalize(self.momentum_encoder(view1)[0].float(), dim=1)
            key2 = F.normalize(self.momentum_encoder(view2)[0].float(), dim=1)
        loss = (self.head.loss(proj1, key2, self.queue2.clone()) +
                self.head.loss(proj2, key1, self.queue1.clone()))
        self._enqueue(key1, key2)
        return dict(loss=loss)
