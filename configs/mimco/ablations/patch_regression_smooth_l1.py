# Ablation: regress the teacher's patch features (smooth_l1, target LayerNorm-ed as in MaskFeat /
# data2vec) instead of the patch InfoNCE. The paper reports contrastive > L1 regression.
_base_ = '../vit-s_100e.py'

model = dict(head=dict(patch_loss=dict(_delete_=True, type='FeatureRegressionLoss',
                                       criterion='smooth_l1', normalize='layer')))
