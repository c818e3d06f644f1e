"""One layer-wise lr decay constructor for mmpretrain, mmdet and mmseg models with a ViT backbone.

None of the three libraries' own constructors fits a `mmpretrain.VisionTransformer` everywhere:
mmpretrain's needs `model.get_layer_depth` (a detector or segmentor has none), mmdet's accepts
only ConvNeXt, mmseg's dispatches on the backbone class name, and ViTDet's matches `.blocks.`,
which mmpretrain names `layers`, so it applies no decay without a word. This one asks the backbone
(`get_layer_depth(name, 'backbone.')`, mmpretrain's ViT and Swin have it) and is registered in
MMEngine's root registry, so every scope finds it by name.

    optim_wrapper = dict(
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        constructor='ViTLayerDecayConstructor',
        paramwise_cfg=dict(layer_decay_rate=0.65))

A parameter at depth d of a backbone with D depths (0 = patch embedding and tokens, i = block i,
D - 1 = everything after the blocks, heads included) gets lr * rate ** (D - 1 - d). 1-D parameters
(norms, biases) and position embeddings / tokens get no weight decay.
"""
from collections import defaultdict

from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ViTLayerDecayConstructor(DefaultOptimWrapperConstructor):
    """paramwise_cfg keys:

    - layer_decay_rate (required): the per-depth lr factor.
    - no_decay_keys: substrings of parameter names without weight decay
      (default: tokens and position embeddings).
    Any other key is an error: it would otherwise be silently ignored.
    """

    KNOWN_KEYS = {'layer_decay_rate', 'no_decay_keys'}
    DEFAULT_NO_DECAY = ('cls_token', 'pos_embed', 'mask_token', 'absolute_pos_embed',
                        'relative_position_bias_table')

    def __init__(self, optim_wrapper_cfg, paramwise_cfg=None):
        paramwise_cfg = dict(paramwise_cfg or {})
        unknown = set(paramwise_cfg) - self.KNOWN_KEYS
        if unknown:
            raise KeyError(f'ViTLayerDecayConstructor does not read paramwise_cfg keys '
                           f'{sorted(unknown)}; it reads {sorted(self.KNOWN_KEYS)}')
        if 'layer_decay_rate' not in paramwise_cfg:
            raise KeyError('ViTLayerDecayConstructor needs paramwise_cfg.layer_decay_rate')
        self.decay_rate = float(paramwise_cfg['layer_decay_rate'])
        self.no_decay_keys = tuple(paramwise_cfg.get('no_decay_keys', self.DEFAULT_NO_DECAY))
        # The parent validates no keys of ours; a non-empty paramwise_cfg afterwards makes its
        # __call__ go through our add_params.
        super().__init__(optim_wrapper_cfg, paramwise_cfg=None)
        self.paramwise_cfg = paramwise_cfg

    def add_params(self, params, module, prefix='', **kwargs):
        """Fill `params` with one group per (lr scale, weight decay) pair.

        Args:
            params: the list the optimizer's param groups are appended to.
            module: the whole model (unwrapped by the parent's __call__).
        """
        backbone = getattr(module, 'backbone', None)
        if backbone is None or not hasattr(backbone, 'get_layer_depth'):
            raise TypeError(f'{type(module).__name__} has no `backbone.get_layer_depth`: '
                            f'ViTLayerDecayConstructor needs an mmpretrain ViT/Swin backbone')
        groups = defaultdict(list)
        names = defaultdict(list)
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue  # frozen (e.g. a linear probe's backbone): nothing to optimise
            depth, num_depths = backbone.get_layer_depth(name, 'backbone.')
            scale = self.decay_rate ** (num_depths - 1 - depth)
            no_decay = param.ndim == 1 or any(key in name for key in self.no_decay_keys)
            key = (scale, 0.0 if no_decay else self.base_wd)
            groups[key].append(param)
            names[key].append(name)
        for (scale, weight_decay), group in sorted(groups.items(), key=lambda kv: kv[0]):
            params.append(dict(params=group, lr=self.base_lr * scale, lr_scale=scale,
                               weight_decay=weight_decay))
        summary = '\n'.join(
            f'  lr x {scale:.4g}, wd {wd:g}: {len(n)} tensors, e.g. {n[0]}'
            for (scale, wd), n in sorted(names.items(), key=lambda kv: kv[0]))
        print_log(f'ViTLayerDecayConstructor (rate {self.decay_rate}):\n{summary}',
                  logger='current')
