"""MimCo's two heads and their losses: patch-level and image-level, weighted and logged apart."""
from typing import Dict, Optional

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


@MODELS.register_module()
class MimCoHead(BaseModule):
    """Projects student features into the teacher's space and applies the two losses.

    Args:
        patch_proj: projector config, student width -> teacher patch width.
        patch_loss: loss on masked patches, called as loss(pred (M, D), target (B, N, D), mask).
        img_proj / img_loss: projector and loss on the global token, loss(pred (B, D'),
            target (B, D')). Both None, or `img_weight=0`, turns the image-level loss off.
        patch_weight / img_weight: w_p and w_i.
    """

    def __init__(self,
                 patch_proj: dict,
                 patch_loss: dict,
                 img_proj: Optional[dict] = None,
                 img_loss: Optional[dict] = None,
                 patch_weight: float = 1.0,
                 img_weight: float = 1.0,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if (img_proj is None) != (img_loss is None):
            raise ValueError('img_proj and img_loss go together: set both or neither')
        self.patch_proj = MODELS.build(patch_proj)
        self.patch_loss = MODELS.build(patch_loss)
        self.patch_weight = patch_weight
        # An image head that no loss uses would leave DDP with parameters that never get a
        # gradient (an error without find_unused_parameters): with w_i = 0 it is not built.
        with_img = img_loss is not None and img_weight != 0
        self.img_proj = MODELS.build(img_proj) if with_img else None
        self.img_loss = MODELS.build(img_loss) if with_img else None
        self.img_weight = img_weight if with_img else 0.0

    def loss(self, student_patch: torch.Tensor, student_global: torch.Tensor,
             teacher_patch: torch.Tensor, teacher_global: torch.Tensor,
             mask: torch.Tensor, img_keys=None) -> Dict[str, torch.Tensor]:
        """
        Args:
            student_patch: (B, N, C) student tokens; student_global: (B, C).
            teacher_patch: (B, N, D); teacher_global: (B, D').
            mask: (B, N) bool, True = masked (only those patches are predicted).
            img_keys: for an image loss with batch negatives, the keys of the whole batch this
                micro-batch belongs to (`ImageInfoNCE.gather_keys`); None = this batch's.
        Returns:
            dict(loss_patch=w_p * L_patch, patch_top1[, loss_img=w_i * L_img, img_top1,
            img_negatives]); MMEngine sums the `loss_*` entries and logs every entry.
        """
        if student_patch.shape[:2] != teacher_patch.shape[:2]:
            raise ValueError(f'student has {tuple(student_patch.shape[:2])} (batch, patches) but '
                             f'the teacher {tuple(teacher_patch.shape[:2])}: both must see the '
                             f'same crop on the same patch grid')
        pred = self.patch_proj(student_patch[mask])  # (M, D)
        losses = dict(loss_patch=self.patch_weight * self.patch_loss(pred, teacher_patch, mask))
        # "is the student learning the teacher", visible from iteration 1 (logged, not optimised):
        # % of masked patches / images whose own teacher target wins among the negatives
        self._log_agreement(losses, 'patch_top1', self.patch_loss)
        if self.img_weight:
            extra = {} if img_keys is None else dict(keys=img_keys)
            losses['loss_img'] = self.img_weight * self.img_loss(
                self.img_proj(student_global), teacher_global, **extra)
            self._log_agreement(losses, 'img_top1', self.img_loss)
            negatives = getattr(self.img_loss, 'last_num_negatives', None)
            if negatives is not None:
                # Logged, not optimised (no 'loss' in the name): shows the negatives really
                # come from the global batch (B x GPUs - 1).
                losses['img_negatives'] = torch.tensor(float(negatives), device=pred.device)
        return losses

    @staticmethod
    def _log_agreement(losses, key, loss_module):
        top1 = getattr(loss_module, 'last_top1', None)
        if top1 is not None:
            losses[key] = top1
