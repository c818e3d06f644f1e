"""Everything here registers into mmpretrain's MODELS registry on import."""
from .data_preprocessor import MIMDataPreprocessor
from .losses import FeatureRegressionLoss, ImageInfoNCE, PatchInfoNCE
from .mimco import MimCo
from .mimco_head import MimCoHead
from .micro_batches import MicroBatchDDP
from .mimco_vit import MimCoViT
from .moby import MoBY, MoBYHead
from .projector import MLPProjector, ProjectionMatrix
from .register_vit import RegisterViT
from .teacher import ContrastiveTeacher, TeacherTargets

__all__ = [
    'ContrastiveTeacher', 'FeatureRegressionLoss', 'ImageInfoNCE', 'MicroBatchDDP',
    'MIMDataPreprocessor', 'MimCo', 'MimCoHead', 'MimCoViT', 'MLPProjector', 'MoBY', 'MoBYHead',
    'PatchInfoNCE', 'ProjectionMatrix', 'RegisterViT', 'TeacherTargets',
]
