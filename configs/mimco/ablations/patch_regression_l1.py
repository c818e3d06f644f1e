# Ablation: regress the teacher's patch features (l1, target LayerNorm-ed as in MaskFeat /
# data2vec) instead of the patch InfoNCE. The paper reports contrastive > L1 regression.
_base_ = '../vit-s_100e.py'

model = dict(head=dict(patch_loss=dict(_delete_=True, type='FeatureRegressionLoss',
                                       criterion='l1', normalize='layer')))
