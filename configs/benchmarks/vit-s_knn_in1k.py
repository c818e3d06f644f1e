# k-NN on ImageNet-1K with frozen features, DINO's protocol (Caron et al., ICCV 2021): cosine
# similarity, votes weighted by exp(sim / 0.07), k = 10 / 20 / 100 / 200; the bank is the train
# split and the queries the val split, both resized to 256 (short side, bicubic) and centre-cropped
# to 224. The same features also give a logistic regression's accuracy (`logreg`, L-BFGS, its L2
# strength chosen on every 5th bank image: CLIP's linear-probe protocol, Radford et al. 2021;
# not the 90-epoch SGD linear probe of the paper tables; tools/knn.py).
#
#   python tools/knn.py configs/benchmarks/vit-s_knn_in1k.py work_dirs/mimco/vit-s_100e/epoch_100.pth
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    '../_base_/models/vit-s_frozen.py',
    '../_base_/default_runtime.py',
]

knn = dict(ks=(10, 20, 100, 200), temperature=0.07, logreg=dict())
# DINO resizes with bicubic interpolation (eval_knn.py: Resize(256, interpolation=3));
# mmpretrain's test pipeline is bilinear.
knn_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
knn_bank_dataloader = dict(
    batch_size=128, num_workers=8, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ImageNet', data_root='data/imagenet', split='train',
                 pipeline=knn_pipeline))
test_dataloader = dict(batch_size=128, num_workers=8, dataset=dict(pipeline=knn_pipeline))
