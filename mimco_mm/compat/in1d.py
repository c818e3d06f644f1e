"""numpy 2.4 removed `np.in1d`, which mmpretrain's retrieval metrics call; scoped to that module."""
import types

import numpy as np

class _NumpyWithIn1d(types.ModuleType):
    """numpy as seen by mmpretrain's retrieval metrics: `in1d` (removed in numpy 2.4) is `isin`."""

    in1d = staticmethod(np.isin)

    def __getattr__(self, name):
        return getattr(np, name)


def install():
    if hasattr(np, 'in1d'):
        return
    from mmpretrain.evaluation.metrics import retrieval
    retrieval.np = _NumpyWithIn1d('numpy')  # scoped to that module, numpy itself is untouched


