# Labelled data of the CPU variants (k-NN, linear probe, retrieval): an image folder in mmpretrain's
# layout, data/demo/{train,val}/<class>/<image>, read at 32 px.
tiny_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32), backend='pillow'),
    dict(type='PackInputs'),
]
tiny_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.5, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
