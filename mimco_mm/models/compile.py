"""torch.compile for MimCo's two ViTs, in place (checkpoint keys unchanged).

Measured (README "Speed"): on an H200, compiling teacher + student makes a ViT-S MimCo step 0.72x
as long (0.073 -> 0.053 s at batch 256), as fast as the eager SimMIM control; the teacher alone
gains 4 %. On 2 CPU cores: 0.88x.
"""
import numpy as np
import torch

PARTS = ('teacher', 'student', 'all')


def compile_backbones(model: torch.nn.Module, which: str) -> None:
    """Compile the teacher's backbone ('teacher'), the student backbone ('student') or both.

    `nn.Module.compile()` compiles each module's forward in place, so parameter names and
    checkpoints stay those of the eager model (wrapping in `torch.compile(module)` would prefix
    every key with `_orig_mod.`). The teacher's backbone is compiled, not the wrapper: the wrapper
    opens `inference_mode`, which inductor cannot trace through ("Cannot set version_counter for
    inference tensor").
    """
    if which not in PARTS:
        raise ValueError(f'compile must be one of {PARTS} (or None), got {which!r}')
    for module in model.modules():
        # mmpretrain's ViTs set DropPath.drop_prob from np.linspace: a numpy scalar that dynamo
        # turns into a tensor whose guard fails under no_grad (torch 2.14: "Guard failed on the
        # same frame it was created"). A Python float is what the attribute means.
        if isinstance(getattr(module, 'drop_prob', None), np.generic):
            module.drop_prob = float(module.drop_prob)
    if which in ('teacher', 'all'):
        model.target_generator.backbone.compile()
    if which in ('student', 'all'):
        model.backbone.compile()
