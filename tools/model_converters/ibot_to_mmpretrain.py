"""An official iBOT ViT checkpoint (bytedance/ibot) -> a `backbone.*` checkpoint our teacher loads
strictly.

    python tools/model_converters/ibot_to_mmpretrain.py checkpoint_teacher.pth dst.pth --num-heads 6

Layouts: the released `checkpoint_teacher.pth` (`state_dict` with timm-style names) and the full
training checkpoint (`student` / `teacher`; the teacher is taken). iBOT's ViT has a
`masked_embed` (the mask token of its MIM branch): it is not part of the network that computes
features, so it is left out and printed, never loaded into another tensor. Heads: --num-heads
(ViT-S/16: 6, ViT-B/16: 12), or iBOT's `args.arch` when the file has it.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from tools.model_converters.vit_release import backbone_state, run  # noqa: E402

IBOT_HEADS = {'vit_tiny': 3, 'vit_small': 6, 'vit_base': 12, 'vit_large': 16}


def load(checkpoint):
    keys = ('teacher', ) if 'teacher' in checkpoint else ('state_dict', 'model')
    backbone, other = backbone_state(checkpoint, keys=keys)
    return backbone, other, ('masked_embed', )


def heads_from(checkpoint):
    return IBOT_HEADS.get(getattr(checkpoint.get('args'), 'arch', None))


def main(argv=None):
    return run(argv, __doc__.split('\n')[0], 'ibot', load, heads_from, resizable=True)


if __name__ == '__main__':
    main()
