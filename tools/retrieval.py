"""Image retrieval with frozen features.

    python tools/retrieval.py CONFIG CHECKPOINT [--out retrieval.json]
    tools/dist_retrieval.sh CONFIG CHECKPOINT N [--out retrieval.json]   # recall protocol

The config's `retrieval` dict picks the protocol:
- `dict(protocol='revisited', data_root='data/roxford5k', gnd_file='gnd_roxford5k.pkl',
  image_size=512, scales=(1, 0.7071, 0.5))`: Revisited Oxford / Paris, Medium and Hard mAP, as in
  DINO's evaluation (queries cropped to their box, multi-scale features averaged, L2-normalised).
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


@torch.no_grad()
def multiscale_feature(model, image, image_size, scales, device):
    """(D,) L2-normalised mean of the features at each scale of one image.

    Args:
        image: PIL RGB image; resized so its longer side is `image_size` (x scale), keeping the
            aspect ratio and a multiple of the patch size is not needed (position embeddings are
            interpolated).
    """
    pre = model.data_preprocessor
    rgb = torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1)  # (3, H, W)
    rgb = (rgb - pre.mean.cpu()) / pre.std.cpu()  # preprocessor stats are RGB-ordered here
    total = 0
    for scale in scales:
        side = max(rgb.shape[1:])
        size = [max(16, round(d * image_size * scale / side)) for d in rgb.shape[1:]]
        x = F.interpolate(rgb[None], size=size, mode='bilinear', align_corners=False)
        feat = model.extract_feat(x.to(device))
        total = total + (feat[-1] if isinstance(feat, (tuple, list)) else feat)[0].float().cpu()
    return F.normalize(total / len(scales), dim=0)


def revisited(cfg, model, device, spec):
    gnd = load_revisited_gnd(osp.join(spec['data_root'], spec['gnd_file']))
    image_dir = osp.join(spec['data_root'], 'jpg')
    size, scales = spec.get('image_size', 512), tuple(spec.get('scales', (1, 0.7071, 0.5)))

    def feature(name, box=None):
        path = osp.join(image_dir, name + '.jpg')
        if not osp.isfile(path):
            raise FileNotFoundError(f'retrieval image {path} (listed in {spec["gnd_file"]}) '
                                    f'is missing')
        image = Image.open(path).convert('RGB')
        if box is not None:
            image = image.crop(tuple(int(round(v)) for v in box))
        return multiscale_feature(model, image, size, scales, device)

    print(f'{len(gnd["imlist"])} database images, {len(gnd["qimlist"])} queries')
    db = torch.stack([feature(n) for n in gnd['imlist']])
    queries = torch.stack([feature(n, g.get('bbx')) for n, g in zip(gnd['qimlist'], gnd['gnd'])])
    return revisited_map(rank_database(queries, db), gnd['gnd'])


def evaluate(config, checkpoint, cfg_options=None):
    cfg, model, device = build_frozen_model(config, checkpoint, cfg_options)
    spec = dict(cfg.get('retrieval', {}))
    protocol = spec.pop('protocol', None)
    known = {'revisited': {'data_root', 'gnd_file', 'image_size', 'scales'}, 'recall': {'ks'}}
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
