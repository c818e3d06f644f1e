"""Small generated sets in the COCO-instance and ADE20K layouts, for CPU tests and `make demo`.

Each image is a smooth random background with a few filled shapes (ellipses, rectangles,
triangles). A shape's colour depends on its class, so the tasks are learnable; the annotations are
exact (COCO polygons and boxes, ADE label maps), so the real evaluators (COCO AP, mIoU) have
something true to measure. They show that the transfer path runs, not what a backbone is worth.
"""
import json
import os
import os.path as osp
from typing import Tuple

import numpy as np
from PIL import Image, ImageDraw

# First COCO categories (CocoDataset maps names to ids, so the names must be COCO's).
COCO_NAMES = ('person', 'bicycle', 'car')
CLASS_COLOURS = np.array([(220, 60, 50), (60, 180, 75), (50, 90, 220)], dtype=np.float64)


def _background(rng, height, width):
    """Smooth colour field plus noise, (H, W, 3) float."""
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    base = rng.uniform(60, 190, size=3)
    slope = rng.uniform(-60, 60, size=(2, 3))
    img = base + xx[..., None] * slope[0] + yy[..., None] * slope[1]
    return img + rng.normal(0, 8, size=img.shape)


def _random_polygon(rng, height, width):
    """A shape as a closed polygon [(x, y), ...] fully inside the image."""
    w = rng.uniform(0.2, 0.45) * width
    h = rng.uniform(0.2, 0.45) * height
    cx = rng.uniform(w / 2 + 1, width - w / 2 - 1)
    cy = rng.uniform(h / 2 + 1, height - h / 2 - 1)
    kind = rng.integers(3)
    if kind == 0:  # ellipse
        t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        pts = np.stack([cx + w / 2 * np.cos(t), cy + h / 2 * np.sin(t)], axis=1)
    elif kind == 1:  # rectangle
        pts = np.array([[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2],
                        [cx + w / 2, cy + h / 2], [cx - w / 2, cy + h / 2]])
    else:  # triangle
        pts = np.array([[cx, cy - h / 2], [cx + w / 2, cy + h / 2], [cx - w / 2, cy + h / 2]])
    return [tuple(p) for p in pts]


def _draw(rng, height, width, max_objects, num_classes):
    """Image (H, W, 3) uint8, label map (H, W) uint8 (0 = background), and the shapes."""
    img = _background(rng, height, width)
    labels = np.zeros((height, width), dtype=np.uint8)
    shapes = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        cls = int(rng.integers(num_classes))
        polygon = _random_polygon(rng, height, width)
        canvas = Image.new('L', (width, height), 0)
        ImageDraw.Draw(canvas).polygon(polygon, fill=1)
        region = np.array(canvas, dtype=bool)
        colour = CLASS_COLOURS[cls % len(CLASS_COLOURS)] + rng.normal(0, 10, size=3)
        img[region] = colour + rng.normal(0, 6, size=(region.sum(), 3))
        labels[region] = cls + 1
        shapes.append((cls, polygon, region))
    # Later shapes hide earlier ones: keep only what is still visible.
    visible = []
    for cls, polygon, region in shapes:
        region = region & (labels == cls + 1)
        if region.sum() >= 16:
            visible.append((cls, polygon, region))
    return np.clip(img, 0, 255).astype(np.uint8), labels, visible


def make_coco_instances(root: str, num_train: int = 8, num_val: int = 4,
                        size: Tuple[int, int] = (96, 128), max_objects: int = 3,
                        seed: int = 0) -> str:
    """Write root/{train,val}/*.png and root/annotations/instances_{train,val}.json.

    Boxes are the polygons' extents; instances are not occluded much, but the polygon (not the
    visible region) is the COCO segmentation, as in COCO itself. Returns `root`.
    """
    rng = np.random.default_rng(seed)
    height, width = size
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    categories = [dict(id=i + 1, name=n) for i, n in enumerate(COCO_NAMES)]
    for split, count in (('train', num_train), ('val', num_val)):
        os.makedirs(osp.join(root, split), exist_ok=True)
        images, annotations = [], []
        for i in range(count):
            img, _, shapes = _draw(rng, height, width, max_objects, len(COCO_NAMES))
            name = f'{split}_{i:04d}.png'
            Image.fromarray(img).save(osp.join(root, split, name))
            image_id = i + 1
            images.append(dict(id=image_id, file_name=name, height=height, width=width))
            for cls, polygon, region in shapes:
                xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
                x0, y0 = min(xs), min(ys)
                annotations.append(dict(
                    id=len(annotations) + 1 + 100000 * (split == 'val'), image_id=image_id,
                    category_id=cls + 1, iscrowd=0, area=float(region.sum()),
                    bbox=[x0, y0, max(xs) - x0, max(ys) - y0],
                    segmentation=[[float(c) for p in polygon for c in p]]))
        with open(osp.join(root, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f)
    return root


def make_ade_segmentation(root: str, num_train: int = 8, num_val: int = 4,
                          size: Tuple[int, int] = (64, 64), max_objects: int = 3,
                          num_classes: int = 3, seed: int = 0) -> str:
    """Write mmseg's ADE20K layout: root/images/{training,validation}/*.jpg and
    root/annotations/{training,validation}/*.png with 0 = unlabelled, 1..num_classes = classes
    (ADE20KDataset's reduce_zero_label turns 0 into 255 = ignore). Returns `root`."""
    rng = np.random.default_rng(seed)
    height, width = size
    for split, count in (('training', num_train), ('validation', num_val)):
        os.makedirs(osp.join(root, 'images', split), exist_ok=True)
        os.makedirs(osp.join(root, 'annotations', split), exist_ok=True)
        for i in range(count):
            img, labels, _ = _draw(rng, height, width, max_objects, num_classes)
            Image.fromarray(img).save(osp.join(root, 'images', split, f'{i:04d}.jpg'), quality=95)
            Image.fromarray(labels).save(osp.join(root, 'annotations', split, f'{i:04d}.png'))
    return root
