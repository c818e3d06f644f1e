# Revisited Oxford 5k retrieval with frozen features (Radenovic et al., CVPR 2018) in DINO's
# protocol: eval_image_retrieval.py as DINO's README runs it for Oxford (--imsize 224
# --multiscale 0). Medium and Hard mAP; queries whole (not cropped to their box); every image
# shrunk into a 224 px box with antialiasing, never enlarged; one scale; L2-normalised features.
# Data: data/roxford5k/jpg/*.jpg and data/roxford5k/gnd_roxford5k.pkl (the benchmark's files).
#
#   python tools/retrieval.py configs/benchmarks/vit-s_retrieval_roxford5k_dino.py CHECKPOINT
_base_ = ['../_base_/models/vit-s_frozen.py', '../_base_/default_runtime.py']

retrieval = dict(protocol='revisited', data_root='data/roxford5k', gnd_file='gnd_roxford5k.pkl',
                 image_size=224, scales=(1, ), query_crop=False)
