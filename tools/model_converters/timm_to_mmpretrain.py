"""A timm / DeiT ViT state dict -> a `backbone.*` checkpoint our teacher loads strictly.

    python tools/model_converters/timm_to_mmpretrain.py deit_small.pth dst.pth --num-heads 6

Accepts the bare state dict or one under `model` / `state_dict` (DeiT's releases). The classifier
(`head.*`) is left out and printed; anything else timm has and mmpretrain's ViT lacks (fc_norm of
mean-pooled models, register tokens) is an error.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from tools.model_converters.vit_release import backbone_state, run  # noqa: E402


def load(checkpoint):
    backbone, other = backbone_state(checkpoint)
    return backbone, other, ('head.weight', 'head.bias')


def main(argv=None):
    return run(argv, __doc__.split('\n')[0], 'timm', load)


if __name__ == '__main__':
    main()
