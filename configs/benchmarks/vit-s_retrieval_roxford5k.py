# Revisited Oxford 5k retrieval with frozen features (Radenovic et al., CVPR 2018; the protocol of
# DINO's evaluation): Medium and Hard mAP; queries cropped to their box; features of the longer
# side at 512 px x (1, 1/sqrt 2, 1/2) averaged and L2-normalised.
# Data: data/roxford5k/jpg/*.jpg and data/roxford5k/gnd_roxford5k.pkl (the benchmark's files).
#
#   python tools/retrieval.py configs/benchmarks/vit-s_retrieval_roxford5k.py CHECKPOINT
_base_ = ['../_base_/models/vit-s_frozen.py', '../_base_/default_runtime.py']

retrieval = dict(protocol='revisited', data_root='data/roxford5k', gnd_file='gnd_roxford5k.pkl',
                 image_size=512, scales=(1, 0.7071, 0.5))
