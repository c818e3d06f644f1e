"""An official DINO ViT checkpoint (facebookresearch/dino) -> a `backbone.*` checkpoint our
teacher loads strictly.

    python tools/model_converters/dino_to_mmpretrain.py dino_deitsmall16_pretrain.pth dst.pth
    python tools/model_converters/dino_to_mmpretrain.py checkpoint.pth dst.pth   # full training file

Two layouts: the backbone-only release (timm names, no wrapper) and the full training checkpoint
(`student` / `teacher` / `optimizer` / `args` as an argparse.Namespace, read with that one class
allowed, nothing else); from the latter the TEACHER's backbone is taken (DINO evaluates the
teacher), its DINOHead left out and printed. Heads come from `args.arch` (DINO's vit_tiny /
vit_small / vit_base: 3 / 6 / 12) or --num-heads.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from tools.model_converters.vit_release import backbone_state, run  # noqa: E402

DINO_HEADS = {'vit_tiny': 3, 'vit_small': 6, 'vit_base': 12}


def load(checkpoint):
    if 'teacher' in checkpoint:
        backbone, other = backbone_state(checkpoint, keys=('teacher', ))
    else:
        backbone, other = backbone_state(checkpoint)
    return backbone, other, ()


def heads_from(checkpoint):
    args = checkpoint.get('args')
    return DINO_HEADS.get(getattr(args, 'arch', None))


def main(argv=None):
    return run(argv, __doc__.split('\n')[0], 'dino', load, heads_from, resizable=True)


if __name__ == '__main__':
    main()
