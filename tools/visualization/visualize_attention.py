"""Last-block CLS attention per head (DINO style) of several checkpoints side by side, and where
a MimCo student agrees with its teacher on masked patches.

    python tools/visualization/visualize_attention.py CONFIG CKPT [CKPT ...] --images a.jpg b.jpg \
        --out attention.png [--names teacher SimMIM MimCo] \
        [--mimco MIMCO_CONFIG MIMCO_CKPT [--teacher TEACHER_CKPT]]

CONFIG is a frozen-feature config (e.g. configs/benchmarks/vit-s_knn_in1k.py): it builds the
backbone each CKPT is loaded into (strictly, architecture checked) and its test pipeline reads
the images. For each image, one row per checkpoint: the image, then the CLS token's attention
over the patches for each head. With --mimco, one more row per image: the image, the image with
a mask drawn by the MimCo config's own mask generator, and the agreement map (green: the
student's prediction picks its own teacher patch among the image's patches, red: another
patch; grey: visible), titled with the share of agreeing patches.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import mimco_mm  # noqa: E402,F401
from mimco_mm.evaluation.maps import cls_attention, patch_agreement  # noqa: E402
from tools._common import DictAction, load_config  # noqa: E402
from tools._frozen import build_frozen_model  # noqa: E402


def read_images(cfg, paths, preprocessor):
    """The config's test pipeline on each file -> (normalised (B, 3, H, W), RGB uint8 (B, H, W,
    3) for display)."""
    from mmengine.dataset import Compose
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    inputs = []
    for path in paths:
        if not osp.isfile(path):
            raise FileNotFoundError(f'--images: {path} does not exist')
        inputs.append(pipeline(dict(img_path=path))['inputs'])
    batch = preprocessor(dict(inputs=inputs), False)['inputs']
    rgb = torch.stack(inputs)
    if getattr(preprocessor, '_channel_conversion', False):
        rgb = rgb.flip(1)  # mmcv loads BGR
    return batch, rgb.permute(0, 2, 3, 1).numpy().astype(np.uint8)


def label(path):
    """'class_folder/file.png': file names alone repeat across class folders."""
    return osp.join(osp.basename(osp.dirname(osp.abspath(path))), osp.basename(path))


def mimco_agreement(config, checkpoint, teacher, images, cfg_options=None, seed=0):
    """(mask (B, h, w), agreement (B, h, w)) of a MimCo stage-2 checkpoint on `images` (normalised
    like its student's input), the mask drawn by the config's own mask generator."""
    from mmpretrain.registry import MODELS, TRANSFORMS

    from mimco_mm.compat import load_checkpoint_file
    from mimco_mm.models.teacher import load_strict
    cfg = load_config(config, cfg_options)
    if teacher:
        cfg.model.teacher.checkpoint = teacher
    cfg.model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    model = MODELS.build(cfg.model)
    state = load_checkpoint_file(checkpoint)
    load_strict(model, state.get('state_dict', state), '', checkpoint)
    model.eval()
    generator_cfg = next((t for t in cfg.train_dataloader.dataset.pipeline
                          if 'MaskGenerator' in t['type']), None)
    if generator_cfg is None:
        raise KeyError(f'{config}: no mask generator in train_dataloader.dataset.pipeline')
    generator = TRANSFORMS.build(generator_cfg)
    np.random.seed(seed)  # SimMIMMaskGenerator draws with numpy's global generator
    mask = torch.stack([torch.as_tensor(generator.transform({})['mask'])
                        for _ in range(images.shape[0])]).float()
    return mask, patch_agreement(model, images, mask)


def draw(rows, path):
    """rows: [(title, [(panel title, HxWx3 image or HxW map, kind)])], kind 'image' | 'heat' |
    'agree'. One figure row per entry."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    columns = max(len(panels) for _, panels in rows)
    fig, axes = plt.subplots(len(rows), columns, figsize=(1.6 * columns, 1.7 * len(rows)),
                             squeeze=False)
    agree_colours = ListedColormap(['#d62728', '#2ca02c'])
    for ax_row, (title, panels) in zip(axes, rows):
        for ax, (panel_title, data, kind) in zip(ax_row, panels):
            if kind == 'image':
                ax.imshow(data, interpolation='nearest')
            elif kind == 'heat':
                ax.imshow(data, cmap='inferno', interpolation='nearest')
            else:
                ax.set_facecolor('#bbbbbb')
                ax.imshow(np.ma.masked_invalid(data), cmap=agree_colours, vmin=0, vmax=1,
                          interpolation='nearest')
            ax.set_title(panel_title, fontsize=7)
        ax_row[0].set_ylabel(title, fontsize=7)
        for ax in ax_row:
            ax.set_xticks([])
            ax.set_yticks([])
            if not ax.images:
                ax.axis('off')
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='frozen-feature config (backbone + test pipeline)')
    parser.add_argument('checkpoints', nargs='+')
    parser.add_argument('--images', nargs='+', required=True)
    parser.add_argument('--out', default='attention.png')
    parser.add_argument('--names', nargs='+', help='one label per checkpoint')
    parser.add_argument('--mimco', nargs=2, metavar=('CONFIG', 'CKPT'),
                        help='a MimCo pre-training config and its stage-2 checkpoint')
    parser.add_argument('--teacher', help="the MimCo config's teacher checkpoint, if moved")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides of CONFIG')
    args = parser.parse_args(argv)
    names = args.names or [osp.basename(osp.dirname(osp.abspath(c))) for c in args.checkpoints]
    if len(names) != len(args.checkpoints):
        raise ValueError(f'{len(names)} --names for {len(args.checkpoints)} checkpoints')

    maps, images, display = {}, None, None
    for name, checkpoint in zip(names, args.checkpoints):
        cfg, model, device = build_frozen_model(args.config, checkpoint, args.cfg_options)
        if images is None:
            images, display = read_images(cfg, args.images, model.data_preprocessor)
        maps[name] = cls_attention(model.backbone, images.to(device)).cpu()
    rows = []
    for i, path in enumerate(args.images):
        for name, attention in maps.items():
            heads = [(f'head {h + 1}', attention[i, h].numpy(), 'heat')
                     for h in range(attention.shape[1])]
            rows.append((f'{name}\n{label(path)}', [('image', display[i], 'image'),
                                                          *heads]))
    if args.mimco:
        mask, agreement = mimco_agreement(*args.mimco, args.teacher, images)
        for i, path in enumerate(args.images):
            grid = mask[i].numpy()
            scale = display.shape[1] // grid.shape[0]
            hidden = display[i].copy()
            hidden[np.kron(grid, np.ones((scale, scale))).astype(bool)] = 127
            share = 100 * np.nanmean(agreement[i].numpy())
            rows.append((f'MimCo vs teacher\n{label(path)}', [
                ('image', display[i], 'image'), ('masked input', hidden, 'image'),
                (f'agrees on {share:.0f}% of masked', agreement[i].numpy(), 'agree')]))
    draw(rows, args.out)
    print(f'wrote {args.out}')
    return dict(attention=maps, agreement=agreement if args.mimco else None)


if __name__ == '__main__':
    main()
