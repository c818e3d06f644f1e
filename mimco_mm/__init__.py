"""mimco_mm: MimCo pre-training and its transfer benchmarks on the OpenMMLab stack.

The method is five files in `models/`: `mimco.py` (the algorithm), `mimco_vit.py` (the masked
student), `teacher.py` (the frozen contrastive teacher), `mimco_head.py` (the projection heads)
and `losses.py` (the patch and image InfoNCE). Around it: `engine/` (hooks and loops for long
runs), `evaluation/` (k-NN, logistic regression, retrieval), `datasets/`, `transfer/` (downstream
backbones), `benchmark/` (protocols and tables), `compat/` (fixes to the pinned stack).

Importing the package applies the stack fixes in `compat` and registers every module into
mmpretrain's registries (configs pull it in with `custom_imports=dict(imports=['mimco_mm'])`).
mmdet / mmseg pieces live in submodules their configs import, so this import needs neither.
"""
from .torch_check import check_installed_torch

check_installed_torch()  # a torch too old fails here, by name, not at the first checkpoint

from . import compat  # noqa: E402

compat.apply()

from . import datasets, engine, evaluation, models, transfer  # noqa: E402,F401  registers everything

__version__ = '0.1.0'
