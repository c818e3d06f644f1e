"""The architecture a checkpoint's weights were trained in, recorded in the checkpoint and checked
at every load.

Tensor shapes do not pin a network down: mmpretrain's attention weights have the same shape for
6 and 12 heads, so a 12-head ViT-S checkpoint (MoCo v3's, or our `student_12heads` ablation)
loads without a word into the 6-head downstream configs and is evaluated as a different
network. Every checkpoint we write carries, in `meta['architecture']`, the hyper-parameters of
each backbone in it, keyed by its state-dict prefix (`'backbone'`, `'teacher.backbone'`, or `''`
for a bare backbone file); a load compares them with the module being loaded and names every
difference.

    describe(module)               -> dict of hyper-parameters, or None for an unknown module
    record(model)                  -> {prefix: description} for every known backbone inside
    check(module, checkpoint, prefix, source)   raises ArchitectureMismatch
"""

ARCH_KEY = 'architecture'
# Recorded but not required to match: a downstream ViT may run at another resolution
# (mmpretrain interpolates the position embedding on load, the standard transfer practice;
# e.g. UPerNet at 512 px from a 224-px checkpoint).
NOT_COMPARED = ('img_size', )
# Fields added after checkpoints were already written without them: a description that lacks
# one means the value every earlier network had (a CLIP tower records QuickGELU and pre-norm).
DEFAULTS = dict(activation='GELU', pre_norm=False)


class ArchitectureMismatch(ValueError):
    """The module being loaded is not the network the checkpoint's weights were trained in."""


def _activation(ffn):
    """Name of the activation inside mmcv's FFN (layers[0] = Linear, activation, Dropout), or
    the FFN's own class name for another design (SwiGLU)."""
    try:
        return type(ffn.layers[0][1]).__name__
    except (AttributeError, IndexError, TypeError):
        return type(ffn).__name__


def _vit(module):
    layer = module.layers[0]
    gamma = getattr(layer.attn, 'gamma1', None)
    return dict(
        family='vit', embed_dims=module.embed_dims, num_layers=module.num_layers,
        num_heads=layer.attn.num_heads, feedforward_channels=layer.ffn.feedforward_channels,
        patch_size=module.patch_embed.projection.kernel_size[0],
        img_size=list(module.img_size) if hasattr(module, 'img_size') else None,
        cls_token=module.cls_token is not None, num_extra_tokens=module.num_extra_tokens,
        pos_embed='absolute', ln_eps=layer.ln1.eps,
        layer_scale=gamma is not None and type(gamma).__name__ != 'Identity',
        rel_pos=False, window_size=None,
        # not in any weight's shape: QuickGELU (CLIP) vs GELU changes every feature
        activation=_activation(layer.ffn),
        pre_norm=type(getattr(module, 'pre_norm', None)).__name__ == 'LayerNorm')


def _swin(module):
    return dict(
        family='swin', embed_dims=module.embed_dims,
        depths=[len(stage.blocks) for stage in module.stages],
        num_heads=[stage.blocks[0].attn.w_msa.num_heads for stage in module.stages],
        window_size=list(module.stages[0].blocks[0].attn.w_msa.window_size),
        patch_size=module.patch_embed.projection.kernel_size[0],
        ln_eps=module.stages[0].blocks[0].norm1.eps)


def _windowed_vit(module):
    """ViTSAM / WindowedViT: a ViT with window attention and relative positions, no CLS."""
    layer = module.layers[0]
    windows = sorted({blk.window_size for blk in module.layers} - {0})
    return dict(
        family='vit', embed_dims=module.embed_dims, num_layers=module.num_layers,
        num_heads=layer.attn.num_heads, feedforward_channels=layer.ffn.feedforward_channels,
        patch_size=module.patch_embed.projection.kernel_size[0],
        img_size=list(module.img_size), cls_token=False, num_extra_tokens=0,
        pos_embed='absolute' if module.use_abs_pos else None, ln_eps=layer.ln1.eps,
        layer_scale=False, rel_pos=layer.attn.use_rel_pos,
        window_size=windows[0] if windows else None)


def describe(module):
    """Hyper-parameters of a ViT (mmpretrain VisionTransformer and subclasses: MimCoViT,
    MoCoV3ViT; ViTSAM and our WindowedViT) or a Swin Transformer; None for any other module."""
    from mmpretrain.models import SwinTransformer, VisionTransformer, ViTSAM
    if isinstance(module, VisionTransformer):
        return _vit(module)
    if isinstance(module, ViTSAM):
        return _windowed_vit(module)
    if isinstance(module, SwinTransformer):
        return _swin(module)
    return None


def record(model):
    """{state-dict prefix: description} for every ViT / Swin inside `model` (itself included,
    under ''), outermost first; nested backbones (a momentum encoder's copy) are recorded too."""
    found = {}
    for name, module in model.named_modules():
        description = describe(module)
        if description is not None and not any(
                name.startswith(outer + '.') for outer in found if outer):
            found[name] = description
    return found


def differences(expected, actual):
    """['num_heads: checkpoint 12, model 6', ...] for every hyper-parameter that differs."""
    if expected.get('family') == actual.get('family') == 'vit':
        expected, actual = {**DEFAULTS, **expected}, {**DEFAULTS, **actual}
    keys = sorted((set(expected) | set(actual)) - set(NOT_COMPARED))
    return [f'{k}: checkpoint {expected.get(k)!r}, model {actual.get(k)!r}' for k in keys
            if expected.get(k) != actual.get(k)]


def check(module, checkpoint, prefix, source):
    """Raise ArchitectureMismatch unless `checkpoint` records, under `prefix` (a state-dict
    prefix such as 'backbone.' or ''), the architecture of `module`. Modules we cannot describe
    are not checked."""
    actual = describe(module)
    if actual is None:
        return
    key = (prefix or '').rstrip('.')
    recorded = (checkpoint.get('meta') or {}).get(ARCH_KEY) if isinstance(checkpoint, dict) \
        else None
    if not recorded or key not in recorded:
        raise ArchitectureMismatch(
            f'{source} does not record the architecture of its {key or "weights"!r} (meta.'
            f'{ARCH_KEY}): without it, a checkpoint with another head count loads into '
            f'{type(module).__name__} without a word. Checkpoints written by tools/train.py and '
            f'the converters under tools/model_converters/ record it; convert official or '
            f'third-party files with those converters.')
    # a backbone that adapts plain weights (ViTDet's windows) names what it changes on purpose
    adapted = set(getattr(module, 'ADAPTED_FIELDS', ()))
    diff = [d for d in differences(recorded[key], actual) if d.split(':')[0] not in adapted]
    if diff:
        raise ArchitectureMismatch(
            f'{source} (prefix {prefix!r}) was trained as a different network than the '
            f'{type(module).__name__} being loaded: ' + '; '.join(diff) + '. Use the config '
            'that matches the checkpoint (e.g. the 12-head ViT-S configs for a 12-head '
            'checkpoint).')


# The benchmark config sets of tools/transfer.sh, by (family, embed dims), and the head count
# their configs build; another head count is passed to every job as a config override.
BENCHMARK_ARCHS = {('vit', 384): ('vit-s', 6), ('vit', 768): ('vit-b', 12),
                   ('vit', 64): ('vit-tiny', 4), ('swin', 96): ('swin-t', [3, 6, 12, 24])}


def benchmark_arch(checkpoint_path, prefix='backbone.'):
    """(config set name, [--cfg-options]) for the backbone a checkpoint records, e.g.
    ('vit-s', ['model.backbone.arch.num_heads=12']) for a 12-head ViT-S."""
    from mimco_mm.compat import load_checkpoint_file
    recorded = (load_checkpoint_file(checkpoint_path).get('meta') or {}).get(ARCH_KEY) or {}
    key = prefix.rstrip('.')
    if key not in recorded:
        raise ArchitectureMismatch(f'{checkpoint_path} records no architecture for {key!r}: '
                                   f'set ARCH= explicitly, or re-write it with a converter')
    arch = recorded[key]
    found = BENCHMARK_ARCHS.get((arch['family'], arch['embed_dims']))
    if found is None:
        raise ArchitectureMismatch(f'{checkpoint_path}: no benchmark configs for a {arch["family"]}'
                                   f' with {arch["embed_dims"]} dims ({arch})')
    name, heads = found
    if arch['family'] == 'swin' and list(arch['num_heads']) != heads:
        # the Swin configs build arch='tiny'; per-stage heads are not a one-key override
        raise ArchitectureMismatch(f'{checkpoint_path}: a Swin with heads {arch["num_heads"]}; '
                                   f'the swin-t configs build {heads}')
    options = [] if arch['num_heads'] == heads else \
        [f'model.backbone.arch.num_heads={arch["num_heads"]}']
    return name, options


if __name__ == '__main__':  # tools/transfer.sh: `python -m mimco_mm.architecture CHECKPOINT`
    import sys
    name, options = benchmark_arch(sys.argv[1])
    print(name)
    print(' '.join(options))
