# Recall@K with frozen features on any labelled image folder in mmpretrain's layout
# (data/retrieval/<class>/<image>): each image queries all the others; it scores at K when one of
# its K nearest images shares its class. Images resized to 256 (short side), centre crop 224.
#
#   python tools/retrieval.py configs/benchmarks/vit-s_retrieval-recall_folder.py CHECKPOINT \
#       --cfg-options test_dataloader.dataset.data_root=path/to/folder
_base_ = ['../_base_/models/vit-s_frozen.py', '../_base_/default_runtime.py']

retrieval = dict(protocol='recall', ks=(1, 2, 4, 8))
test_dataloader = dict(
    batch_size=64, num_workers=4, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root='data/retrieval', pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='ResizeEdge', scale=256, edge='short', backend='pillow',
             interpolation='bicubic'),  # as DINO's evaluations
        dict(type='CenterCrop', crop_size=224),
        dict(type='PackInputs'),
    ]))
