# The k-NN protocol of vit-s_knn_in1k.py on the CPU (tests, `make demo`): the 4-layer 64-d ViT of
# configs/mimco/vit-tiny_cpu.py; bank = data/demo/train, queries = data/demo/val.
_base_ = ['./vit-s_knn_in1k.py', '../_base_/datasets/folder_tiny_cls.py']

pretrained = 'work_dirs/mimco/vit-tiny_cpu/epoch_20.pth'
model = dict(backbone=dict(
    arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256),
    img_size=32, patch_size=4, init_cfg=dict(checkpoint=pretrained)))
knn_bank_dataloader = dict(
    batch_size=64, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root='data/demo', data_prefix='train',
                 pipeline={{_base_.tiny_test_pipeline}}))
test_dataloader = dict(
    batch_size=64, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root='data/demo', data_prefix='val',
                 pipeline={{_base_.tiny_test_pipeline}}))
