# Ablation: MSE between L2-normalised student and teacher patch features (= 2 - 2 cos, the BYOL /
# MILAN form) instead of the patch InfoNCE.
_base_ = '../vit-s_100e.py'

model = dict(head=dict(patch_loss=dict(_delete_=True, type='FeatureRegressionLoss',
                                       criterion='mse', normalize='l2')))
