"""MimCo: masked image modeling against a frozen contrastive teacher (arXiv 2209.03063)."""
from typing import Dict, List

import torch
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from .compile import compile_backbones
from .teacher import split_tokens


@MODELS.register_module()
class MimCo(BaseSelfSupervisor):
    """Stage 2 of MimCo.

    One light crop per image goes unmasked through the frozen teacher and masked (mask token)
    through the student; `head` turns both into `loss_patch` and `loss_img`.

    Args:
        backbone: the student, e.g. `MimCoViT(out_type='raw')`.
        teacher: a `ContrastiveTeacher` config (stored as `target_generator`).
        head: a `MimCoHead` config.
        data_preprocessor: defaults to `SelfSupDataPreprocessor`.
        compile: None, or 'teacher' / 'student' / 'all', or dict(parts=..., mode=...) with
            torch.compile's mode ('reduce-overhead': CUDA graphs): compile those ViTs in place
            (mimco_mm/models/compile.py; same outputs up to kernel-fusion rounding, same keys).
        micro_batches: split every batch into this many student passes with one optimizer step
            (mimco_mm/models/micro_batches.py): one GPU with batch 2048 and micro_batches=8
            trains exactly as 8 GPUs with 256 each (same negatives, same BatchNorm groups).
        init_cfg: must stay None. A model-level init (e.g. Xavier on every Linear) would reach
            the teacher's layers too; put inits on `backbone` / `head` instead.
    """

    def __init__(self, backbone: dict, teacher: dict, head: dict,
                 data_preprocessor=None, init_cfg=None, compile=None, micro_batches=1):
        if init_cfg is not None:
            raise ValueError('MimCo takes no model-level init_cfg: it would re-initialise the '
                             'frozen teacher. Put init_cfg on backbone or head.')
        if not (isinstance(micro_batches, int) and micro_batches >= 1):
            raise ValueError(f'micro_batches must be an int >= 1, got {micro_batches!r}')
        self.micro_batches = micro_batches
        super().__init__(backbone=backbone, head=head, target_generator=teacher,
                         data_preprocessor=data_preprocessor)
        teacher_input = getattr(self.target_generator, 'input', None)
        if teacher_input is not None:  # the teacher converts the student's normalised batch
            pre = self.data_preprocessor  # without mean / std it passes raw 0-255 pixels on
            teacher_input.set_student(getattr(pre, 'mean', torch.zeros(3)),
                                      getattr(pre, 'std', torch.ones(3)))
        if compile is not None:
            compile_backbones(self, compile)

    def extract_feat(self, inputs: torch.Tensor):
        """Plain student features (no mask): a tuple like `VisionTransformer.forward`."""
        return self.backbone(inputs, None)

    def forward(self, inputs, data_samples=None, mode='tensor', teacher=None):
        """mmpretrain's forward. `teacher` is set by the micro-batch step only
        (mimco_mm/models/micro_batches.py): (TeacherTargets of these images, image-loss keys)."""
        if mode == 'loss' and teacher is not None:
            return self.micro_batch_loss(inputs, data_samples, *teacher)
        if mode == 'loss' and self.micro_batches > 1:
            raise RuntimeError(
                f'MimCo(micro_batches={self.micro_batches}) got a whole batch in its loss: '
                f"the model wrapper ran mmengine's step. Under DDP set model_wrapper_cfg="
                f"dict(type='MicroBatchDDP') (configs/_base_/default_runtime.py does)")
        return super().forward(inputs, data_samples, mode)

    def train_step(self, data, optim_wrapper):
        """mmengine's step, or the micro-batch step (without DDP; under DDP `MicroBatchDDP`
        calls the same)."""
        from .micro_batches import train_step
        return train_step(self, self, data, optim_wrapper, super().train_step)

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """
        Args:
            inputs: (B, 3, H, W) normalised crops.
            data_samples: each with `.mask` (h, w) from the mask generator, 1 = masked.
        Returns:
            dict(loss_patch, loss_img) and the logged agreement with the teacher.
        """
        return self.micro_batch_loss(inputs, data_samples, self.target_generator(inputs), None)

    def micro_batch_loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
                         targets, img_keys) -> Dict[str, torch.Tensor]:
        """The student's side of `loss`, given the teacher's targets: for one part of a batch
        whose teacher already ran on the whole of it, and for `loss` itself.

        Args:
            inputs, data_samples: this part's, as in `loss`.
            targets: TeacherTargets of these images.
            img_keys: the image loss's keys gathered from the whole batch (and every process),
                with this part's offset into them, or None (this batch's own).
        """
        mask = torch.stack([sample.mask for sample in data_samples])  # (B, h, w)
        patch, global_, token_mask = self.student_tokens(inputs, mask)
        return self.head.loss(patch, global_, targets.patch, targets.global_, token_mask,
                              img_keys=img_keys)

    def masked_tokens(self, inputs: torch.Tensor, mask: torch.Tensor):
        """The teacher's targets on the unmasked batch and the student's tokens on the masked
        one: what the losses (and mimco_mm/evaluation/maps.py's agreement map) compare.

        Args:
            inputs: (B, 3, H, W) normalised crops.
            mask: (B, h, w), nonzero = masked, on the student's patch-embedding grid.
        Returns:
            (TeacherTargets, student patch tokens (B, N, C), student global (B, C),
            mask on the output tokens (B, N) bool).
        """
        targets = self.target_generator(inputs)
        return (targets, *self.student_tokens(inputs, mask))

    def student_tokens(self, inputs: torch.Tensor, mask: torch.Tensor):
        """The student on the masked batch: (patch tokens (B, N, C), global (B, C), mask on the
        output tokens (B, N) bool); arguments as `masked_tokens`."""
        student = self.backbone(inputs, mask.flatten(1))[-1]
        patch, global_ = split_tokens(student, getattr(self.backbone, 'num_extra_tokens', 0))
        return patch, global_, mask_on_token_grid(mask, patch.shape[1])


def mask_on_token_grid(mask: torch.Tensor, num_tokens: int) -> torch.Tensor:
    """The mask at the resolution of the output tokens.

    A ViT's output grid is its patch grid. A Swin's last stage is 8x coarser than its 4-px patch
    embedding, so the mask is pooled; this is exact only when every mask block covers whole output
    tokens (mask_patch_size a multiple of 32 for Swin), which is checked.

    Args:
        mask: (B, h, w), nonzero = masked, at the backbone's patch-embedding resolution.
        num_tokens: N output tokens per image (a square grid when it differs from h * w).
    Returns:
        (B, N) bool.
    """
    batch, h, w = mask.shape
    if h * w == num_tokens:
        return mask.reshape(batch, -1).bool()
    stride = round((h * w / num_tokens) ** 0.5)
    if stride < 1 or (h // stride) * (w // stride) != num_tokens or h % stride or w % stride:
        raise ValueError(f'a ({h}, {w}) mask does not map onto {num_tokens} output tokens')
    blocks = mask.reshape(batch, h // stride, stride, w // stride, stride).bool()
    pooled = blocks.any(dim=4).any(dim=2)
    if not torch.equal(pooled, blocks.all(dim=4).all(dim=2)):
        raise ValueError(f'mask blocks cut through output tokens ({stride}x{stride} patches each):'
                         f' the mask generator\'s mask_patch_size must be a multiple of '
                         f'{stride} x model_patch_size')
    return pooled.reshape(batch, -1)
