"""Image retrieval with frozen features.

    python tools/retrieval.py CONFIG CHECKPOINT [--out retrieval.json]
    tools/dist_retrieval.sh CONFIG CHECKPOINT N [--out retrieval.json]   # recall protocol

The config's `retrieval` dict picks the protocol:
- `dict(protocol='revisited', data_root='data/roxford5k', gnd_file='gnd_roxford5k.pkl',
  image_size=512, scales=(1, 2 ** -0.5, 0.5), query_crop=False)`: Revisited Oxford / Paris,
  Medium and Hard mAP, with the image handling of DINO's eval_image_retrieval.py (which iBOT's
  evaluation reuses): every image shrunk into an image_size box with antialiasing (never
  enlarged), features at each scale of that image averaged and L2-normalised; queries whole
  unless `query_crop=True` (cropped to their box first, as the revisitop toolkit's example does).
  Images are read from data_root/jpg/<name>.jpg.
- `dict(protocol='recall', ks=(1, 2, 4, 8))`: Recall@K over `test_dataloader` (any labelled image
  folder in mmpretrain's layout).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

import mimco_mm  # noqa: E402,F401
from mimco_mm.evaluation import (extract_features, gather_rows, load_revisited_gnd,  # noqa: E402
                                 rank_database, recall_at_k, revisited_map, world)
from tools._common import run_process  # noqa: E402
from tools._frozen import build_frozen_model, build_loader, run_frozen_tool  # noqa: E402


def shrink_into_box(image, size):
    """The PIL image shrunk (never enlarged) so that both sides fit in size x size, keeping the
    aspect ratio, with antialiasing: PIL's `thumbnail`, as DINO's OxfordParisDataset does."""
    image = image.copy()
    image.thumbnail((size, size), Image.LANCZOS)  # LANCZOS is PIL's former ANTIALIAS
    return image


@torch.no_grad()
def multiscale_feature(model, image, scales, device):
    """(D,) L2-normalised mean of the features of one image at each scale (DINO's
    utils.multi_scale): the image as given at scale 1, bilinearly resized by the scale otherwise.

    Args:
        image: PIL RGB image, already at its evaluation size (shrink_into_box).
    """
    pre = model.data_preprocessor
    rgb = torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1)  # (3, H, W)
    rgb = ((rgb - pre.mean.cpu()) / pre.std.cpu())[None]  # preprocessor stats are RGB here
    total = 0
    for scale in scales:
        x = rgb if scale == 1 else F.interpolate(rgb, scale_factor=scale, mode='bilinear',
                                                 align_corners=False)
        feat = model.extract_feat(x.to(device))
        total = total + (feat[-1] if isinstance(feat, (tuple, list)) else feat)[0].float().cpu()
    return F.normalize(total / len(scales), dim=0)


def revisited(cfg, model, device, spec):
    gnd = load_revisited_gnd(osp.join(spec['data_root'], spec['gnd_file']))
    image_dir = osp.join(spec['data_root'], 'jpg')
    size, scales = spec.get('image_size', 512), tuple(spec.get('scales', (1, 2 ** -0.5, 0.5)))
    query_crop = spec.get('query_crop', False)

    def feature(name, box=None):
        path = osp.join(image_dir, name + '.jpg')
        if not osp.isfile(path):
            raise FileNotFoundError(f'retrieval image {path} (listed in {spec["gnd_file"]}) '
                                    f'is missing')
        image = Image.open(path).convert('RGB')
        if box is not None:
            image = image.crop(tuple(int(round(v)) for v in box))
        return multiscale_feature(model, shrink_into_box(image, size), scales, device)

    print(f'{len(gnd["imlist"])} database images, {len(gnd["qimlist"])} queries'
          f'{" (cropped to their box)" if query_crop else ""}')
    db = torch.stack([feature(n) for n in gnd['imlist']])
    queries = torch.stack([feature(n, g.get('bbx') if query_crop else None)
                           for n, g in zip(gnd['qimlist'], gnd['gnd'])])
    return revisited_map(rank_database(queries, db), gnd['gnd'])


def evaluate(config, checkpoint, cfg_options=None):
    cfg, model, device = build_frozen_model(config, checkpoint, cfg_options)
    spec = dict(cfg.get('retrieval', {}))
    protocol = spec.pop('protocol', None)
    known = {'revisited': {'data_root', 'gnd_file', 'image_size', 'scales', 'query_crop'},
             'recall': {'ks'}}
    if protocol not in known:
        raise KeyError(f"{config}: retrieval.protocol must be 'revisited' or 'recall', "
                       f'got {protocol!r}')
    if set(spec) - known[protocol]:
        raise KeyError(f'{config}: retrieval has unknown keys {sorted(set(spec) - known[protocol])}')
    if protocol == 'revisited':
        if world()[1] > 1:
            raise ValueError('the revisited protocol runs in one process (5k images, multi-scale '
                             'features one image at a time): drop --launcher pytorch')
        return revisited(cfg, model, device, spec)
    feats, labels = extract_features(model, build_loader(cfg, 'test_dataloader'), device)
    # every process extracted its share; all of them are queries and database
    feats, labels = gather_rows(feats.to(device)).cpu(), gather_rows(labels.to(device)).cpu()
    return recall_at_k(feats, labels, spec.get('ks', (1, 2, 4, 8)))


def main(argv=None):
    return run_frozen_tool(argv, 'Retrieval with frozen features', 'retrieval_metrics.json',
                           evaluate)


if __name__ == '__main__':
    run_process(main)
