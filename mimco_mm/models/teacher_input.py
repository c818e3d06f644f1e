"""The teacher sees the input it was trained on.

The student's batch arrives normalised with the student's statistics (the data preprocessor's,
ImageNet's in our configs). A teacher trained with other statistics (CLIP: mean 0.481 / 0.458 /
0.408, std 0.269 / 0.261 / 0.276) fed that batch gets shifted inputs and degrades its targets
without any error. `TeacherInput` re-normalises inside the forward pass:

    raw = x_student * std_student + mean_student
    x_teacher = (raw - mean_teacher) / std_teacher = x_student * a + b,
    a = std_student / std_teacher,  b = (mean_student - mean_teacher) / std_teacher

and, when the teacher runs at another resolution (e.g. patch 14 at 196 px to keep a 16-px
student's 14 x 14 grid at 224), resizes bicubically with antialiasing.
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class TeacherInput(nn.Module):
    """Student-normalised (B, 3, H, W) -> teacher-normalised (B, 3, H', W').

    Args:
        mean, std: the teacher's per-channel statistics, RGB, 0-255 scale (as mmpretrain's).
        size: the teacher's input side, or None for the student's.
    The student's statistics are set by `set_student(mean, std)` (MimCo does it from its data
    preprocessor); until then the forward pass is an error, never a silent identity.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], size: Optional[int] = None):
        super().__init__()
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f'teacher input_norm needs 3 means and 3 positive stds, got '
                             f'mean={mean}, std={std}')
        self.size = size
        # not persistent: derived from configs, and stage-2 checkpoints keep their keys
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('scale', torch.ones(1, 3, 1, 1), persistent=False)
        self.register_buffer('shift', torch.zeros(1, 3, 1, 1), persistent=False)
        self.student_known = False

    def set_student(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """The student's statistics (3 values each, 0-255 scale)."""
        mean = torch.as_tensor(mean, dtype=torch.float32).reshape(1, 3, 1, 1).to(self.mean)
        std = torch.as_tensor(std, dtype=torch.float32).reshape(1, 3, 1, 1).to(self.std)
        self.scale.copy_(std / self.std)
        self.shift.copy_((mean - self.mean) / self.std)
        self.student_known = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, H, W) normalised like the student. Returns the teacher's input."""
        if not self.student_known:
            raise RuntimeError('the teacher has its own input_norm but the student\'s statistics '
                               'were never set (MimCo sets them from its data_preprocessor)')
        x = x.float() * self.scale + self.shift
        if self.size is not None and tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode='bicubic',
                              align_corners=False, antialias=True)
        return x
