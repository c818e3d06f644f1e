"""`NormedOutputsViT`: mmpretrain's VisionTransformer with its pre-trained final norm applied to
every output block, as iBOT's segmentation transfer does (`out_with_norm=True`): the features
UPerNet sees from blocks 3, 5 and 7 are normalised like those of block 11. mmpretrain applies
`ln1` to the last block only (`final_norm=True`) or not at all."""
from mmpretrain.models import VisionTransformer
from mmpretrain.registry import MODELS


@MODELS.register_module()
class NormedOutputsViT(VisionTransformer):
    """VisionTransformer whose `ln1` (loaded from the checkpoint's final norm) normalises each
    output of `out_indices`. Args: as VisionTransformer; `final_norm` must stay True (it is the
    norm being applied)."""

    def __init__(self, *args, final_norm=True, **kwargs):
        if not final_norm:
            raise ValueError('NormedOutputsViT applies the final norm to every output: it needs '
                             'final_norm=True (use VisionTransformer for un-normed outputs)')
        super().__init__(*args, final_norm=True, **kwargs)
        # the loop must not normalise the last block in place: _format_output does it for every
        # output, the last one included
        self.final_norm = False

    def _format_output(self, x, hw):
        """x: (B, 1 + N, C) tokens of an output block -> the parent's format of ln1(x)."""
        return super()._format_output(self.ln1(x), hw)
