# k-NN on ImageNet-1K with frozen ViT-B/16 features: DINO's protocol, exactly as
# vit-s_knn_in1k.py (k = 10 / 20 / 100 / 200, T 0.07, bicubic resize 256 -> centre crop 224, CLS
# token after the final norm); only the backbone width differs.
#
#   tools/dist_knn.sh configs/benchmarks/vit-b_knn_in1k.py work_dirs/mimco/vit-b_100e/epoch_100.pth 8
_base_ = './vit-s_knn_in1k.py'

pretrained = 'work_dirs/mimco/vit-b_100e/epoch_100.pth'
model = dict(backbone=dict(
    arch=dict(embed_dims=768, num_layers=12, num_heads=12, feedforward_channels=3072),
    init_cfg=dict(checkpoint=pretrained)))
