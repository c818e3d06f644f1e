"""The frozen contrastive teacher of stage 2: any mmpretrain backbone (+ optional projector neck).

Frozen means frozen, and each rule below closes a hole OpenMMLab leaves open:
- weights are loaded strictly in `__init__` from the teacher's own checkpoint: a missing or an
  unexpected key is an error naming the file, never a warning, and so is an architecture other
  than the one the checkpoint records (heads, depth, ...: mimco_mm/architecture.py);
- its parameters become buffers in `__init__`, i.e. before MMEngine builds the optimizer and
  the DDP wrapper: `model.parameters()` never yields a teacher tensor, so none reaches a param
  group or a gradient bucket, and no `find_unused_parameters` is needed;
- `train()` keeps it in eval mode (the MoCo v3 projector has BatchNorm);
- `init_weights()` is a no-op, so the Runner's weight init cannot overwrite it.

Its weights DO go into every stage-2 checkpoint (a checkpoint alone resumes the run; optimizer
state dominates the size anyway). The sha256 of the teacher file rides along as a buffer; loading
a checkpoint whose teacher differs from the configured one is an error.
"""
import contextlib
import hashlib
from typing import NamedTuple, Optional

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from mimco_mm.architecture import check as check_architecture
from mimco_mm.compat import load_checkpoint_file

from .teacher_input import TeacherInput


class TeacherTargets(NamedTuple):
    patch: torch.Tensor   # (B, N, D): one target per patch, after the final norm
    global_: torch.Tensor  # (B, D'): CLS after the final norm, or the projector output


def split_tokens(features: torch.Tensor, num_extra_tokens: int):
    """Split a backbone output into patch tokens and a global token.

    Args:
        features: (B, num_extra_tokens + N, C) ViT tokens (`out_type='raw'`), or (B, C, h, w)
            feature map of a backbone without a CLS token (Swin).
    Returns:
        patch: (B, N, C); global: (B, C) = the CLS token, or the mean of the patch tokens.
    """
    if features.dim() == 4:
        patch = features.flatten(2).transpose(1, 2)
        return patch, patch.mean(dim=1)
    if features.dim() != 3 or num_extra_tokens < 1:
        raise ValueError(f'expected (B, 1+N, C) tokens with a CLS token or a (B, C, h, w) map, '
                         f'got shape {tuple(features.shape)}')
    return features[:, num_extra_tokens:], features[:, 0]


def file_sha256(path: str) -> bytes:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.digest()


def load_strict(module: torch.nn.Module, state_dict: dict, prefix: str, source: str) -> None:
    """Load the `prefix`-ed entries of `state_dict` into `module`; any mismatch is an error."""
    part = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    if not part:
        heads = sorted({k.split('.')[0] + '.' for k in state_dict})
        raise KeyError(f'{source}: no key starts with {prefix!r}; top-level prefixes in the file: '
                       f'{heads}')
    result = module.load_state_dict(part, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise KeyError(f'{source} (prefix {prefix!r}) does not match {type(module).__name__}: '
                       f'missing {result.missing_keys[:8]} ({len(result.missing_keys)} in all), '
                       f'unexpected {result.unexpected_keys[:8]} '
                       f'({len(result.unexpected_keys)} in all)')


def check_position_grid(backbone: torch.nn.Module, pos_embed, source: str) -> None:
    """A teacher's position embedding must be for the grid it runs at. mmpretrain's ViT would
    otherwise resize a (1, 1 + M * M, C) embedding on load, with an INFO line, by its own
    interpolation, which is not how the teacher's authors run it at that size (DINO / DINOv2
    interpolate with an offset): the targets would differ from the release's without an error."""
    own = getattr(backbone, 'pos_embed', None)
    if pos_embed is None or own is None or tuple(pos_embed.shape) == tuple(own.shape):
        return
    projection = getattr(getattr(backbone, 'patch_embed', None), 'projection', None)
    patch = projection.kernel_size[0] if projection is not None else None
    # entries of the embedding beyond the patch grid (CLS; RegisterViT's registers have none)
    extra = own.shape[1] - backbone.patch_resolution[0] * backbone.patch_resolution[1]

    def grid(tokens):
        side = int(round((tokens - extra) ** 0.5))
        return f'{side} x {side}' + (f' ({side * patch} px at patch {patch})' if patch else '')

    wanted = int(round((own.shape[1] - extra) ** 0.5)) * (patch or 0)
    raise ValueError(
        f'{source}: the teacher\'s position embedding is for a {grid(pos_embed.shape[1])} patch '
        f'grid, the configured teacher runs at {grid(own.shape[1])}. Convert the release for '
        f'that size (tools/model_converters/<name>_to_mmpretrain.py SRC DST --img-size '
        f'{wanted or "S"}: resampled as its authors do) or set the teacher backbone\'s img_size '
        f'to the checkpoint\'s')


@MODELS.register_module()
class ContrastiveTeacher(BaseModule):
    """Frozen teacher producing per-patch and global targets.

    Args:
        backbone: mmpretrain backbone config. A ViT must have `out_type='raw'` (all tokens).
        checkpoint: the teacher's checkpoint (required: a random teacher teaches nothing).
        neck: optional projector (e.g. MoCo v3's `NonLinearNeck`), applied to the global token.
        backbone_prefix / neck_prefix: where the weights sit in the checkpoint:
            'backbone.' / 'neck.' (base encoder of an mmpretrain MoCo v3 checkpoint) or
            'momentum_encoder.module.0.' / 'momentum_encoder.module.1.' (its momentum encoder).
        global_target: 'cls' (global token after the final norm) or 'projector' (neck output).
        autocast_dtype: e.g. 'bfloat16' to run the teacher under its own autocast; None =
            whatever autocast context the caller runs under (AmpOptimWrapper's, or none).
        input_norm: dict(mean, std[, size]) when the teacher was trained on other statistics
            (or resolution) than the student's: the batch is re-normalised inside the forward
            pass (mimco_mm/models/teacher_input.py). None: the teacher takes the student's input.
    """

    def __init__(self,
                 backbone: dict,
                 checkpoint: str,
                 neck: Optional[dict] = None,
                 backbone_prefix: str = 'backbone.',
                 neck_prefix: str = 'neck.',
                 global_target: str = 'cls',
                 autocast_dtype: Optional[str] = None,
                 input_norm: Optional[dict] = None):
        super().__init__(init_cfg=None)
        if global_target not in ('cls', 'projector'):
            raise ValueError(f"global_target must be 'cls' or 'projector', got {global_target!r}")
        if global_target == 'projector' and neck is None:
            raise ValueError("global_target='projector' needs a `neck` (the teacher's projector)")
        if not checkpoint:
            raise ValueError('ContrastiveTeacher needs `checkpoint`: the stage-1 model to learn from')
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck) if neck is not None else None
        self.global_target = global_target
        self.autocast_dtype = getattr(torch, autocast_dtype) if autocast_dtype else None
        self.checkpoint = checkpoint
        self.input = TeacherInput(**input_norm) if input_norm is not None else None

        try:
            state = load_checkpoint_file(checkpoint)
        except FileNotFoundError:
            raise FileNotFoundError(
                f'teacher checkpoint {checkpoint} does not exist: train stage 1 first (e.g. '
                f'tools/train.py configs/mocov3/vit-s_300e.py), or convert an official MoCo v3 '
                f'checkpoint with tools/model_converters/mocov3_to_mmpretrain.py, then set '
                f'model.teacher.checkpoint') from None
        weights = state.get('state_dict', state)
        check_position_grid(self.backbone, weights.get(backbone_prefix + 'pos_embed'), checkpoint)
        load_strict(self.backbone, weights, backbone_prefix, checkpoint)
        # the file must record the teacher's architecture, and it must be this backbone's
        check_architecture(self.backbone, state, backbone_prefix, checkpoint)
        state = weights
        if self.neck is not None:
            load_strict(self.neck, state, neck_prefix, checkpoint)
        sha = torch.frombuffer(bytearray(file_sha256(checkpoint)), dtype=torch.uint8)
        self.register_buffer('checkpoint_sha256', sha.clone())

        self._parameters_to_buffers()
        self.eval()

    def _parameters_to_buffers(self):
        """Make every teacher tensor a buffer: `model.parameters()` then never yields one, so no
        optimizer, param group, DDP gradient bucket or `find_unused_parameters` can see them
        (and MMEngine's constructor has nothing to skip). They stay in the state_dict."""
        for module in self.modules():
            for name, param in list(module._parameters.items()):
                if param is not None:
                    del module._parameters[name]
                    module.register_buffer(name, param.detach().requires_grad_(False))

    def train(self, mode: bool = True):
        """Stay in eval mode whatever the parent asks (BatchNorm statistics stay frozen)."""
        return super().train(False)

    def init_weights(self):
        """No-op: the weights came from `checkpoint` in `__init__`."""

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + 'checkpoint_sha256'
        if key in state_dict and not torch.equal(state_dict[key].cpu(), self.checkpoint_sha256.cpu()):
            raise RuntimeError(
                f'The checkpoint being loaded was trained with a teacher whose file has sha256 '
                f'{bytes(state_dict[key].tolist()).hex()}, but the configured teacher '
                f'{self.checkpoint} has sha256 {bytes(self.checkpoint_sha256.tolist()).hex()}. '
                f'Point the config at the original teacher to resume.')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, images: torch.Tensor) -> TeacherTargets:
        """Targets for a batch of unmasked images.

        Args:
            images: (B, 3, H, W), normalised like the student's input; re-normalised for the
                teacher first when it has its own `input_norm`.
        Returns:
            TeacherTargets(patch (B, N, D) float32, global_ (B, D') float32), plain tensors
            (not inference tensors, so the losses may save them for backward).
        """
        # autocast_dtype None: keep whatever autocast the caller runs under (AmpOptimWrapper).
        precision = (torch.autocast(images.device.type, dtype=self.autocast_dtype)
                     if self.autocast_dtype is not None else contextlib.nullcontext())
        with torch.inference_mode():
            if self.input is not None:
                images = self.input(images)
            with precision:
                features = self.backbone(images)[-1]
                patch, global_ = split_tokens(features,
                                              getattr(self.backbone, 'num_extra_tokens', 0))
                if self.global_target == 'projector':
                    global_ = self.neck((global_,))[0]
        return TeacherTargets(patch.float().clone(), global_.float().clone())
