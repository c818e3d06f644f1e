# Stage-2 data (MimCo and its SimMIM control share it, so the comparison is fair):
# one light crop per image, the same crop for the (unmasked) teacher and the (masked) student.
# Crop scale (0.67, 1) and 32-px mask blocks at ratio 0.6 follow SimMIM's recipe; the MimCo paper
# does not state its values (assumption, docs/method.md "Assumptions").
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
img_size = 224

data_preprocessor = dict(
    type='MIMDataPreprocessor',
    mean=[123.675, 116.28, 103.53],  # ImageNet statistics: what the MoCo v3 teacher was fed
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
    non_blocking=True)  # the pinned batch is copied while the host goes on (MAE, DINO do so)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    # = RandomResizedCrop(backend='pillow') (SimMIM / MAE: antialiased bicubic), the resize on
    # torch's uint8 kernels: the same image to +-1 level, 1.9x the images per worker
    # (mimco_mm/datasets/torch_resize.py, docs/speed.md "2-core CPU (this project's CI machine)")
    dict(type='TorchRandomResizedCrop', scale=img_size, crop_ratio_range=(0.67, 1.0),
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='SimMIMMaskGenerator', input_size=img_size, mask_patch_size=32,
         model_patch_size=16, mask_ratio=0.6),
    dict(type='PackInputs'),  # packs `mask` into DataSample.mask
]

train_dataloader = dict(
    batch_size=256,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,  # as MAE / DINO: a batch of 256 is 38 MB of uint8 to copy to the GPU
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    drop_last=True,
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline=train_pipeline))
