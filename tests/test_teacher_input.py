"""A teacher with its own normalisation (CLIP's, say) sees exactly what it would see if the raw
images were normalised for it directly."""
import pytest
import torch
from mmpretrain.registry import MODELS

from conftest import IMG, tiny_mimco
from mimco_mm.models.teacher_input import TeacherInput

IMAGENET = ([123.675, 116.28, 103.53], [58.395, 57.12, 57.375])
CLIP = ([122.771, 116.746, 104.094], [68.501, 66.632, 70.323])  # OpenAI CLIP, x 255


def test_converting_the_student_batch_equals_normalising_for_the_teacher():
    raw = torch.rand(2, 3, 16, 16) * 255
    student = (raw - torch.tensor(IMAGENET[0]).view(1, 3, 1, 1)) / torch.tensor(
        IMAGENET[1]).view(1, 3, 1, 1)
    direct = (raw - torch.tensor(CLIP[0]).view(1, 3, 1, 1)) / torch.tensor(CLIP[1]).view(1, 3, 1, 1)
    convert = TeacherInput(*CLIP)
    convert.set_student(*IMAGENET)
    torch.testing.assert_close(convert(student), direct, rtol=1e-5, atol=1e-5)
    resized = TeacherInput(*CLIP, size=8)
    resized.set_student(*IMAGENET)
    assert resized(student).shape == (2, 3, 8, 8)


def test_an_unset_student_normalisation_is_an_error_not_an_identity():
    with pytest.raises(RuntimeError, match="student's statistics were never set"):
        TeacherInput(*CLIP)(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match='3 positive stds'):
        TeacherInput([0, 0, 0], [1, 0, 1])


def test_mimco_feeds_its_teacher_the_teachers_own_normalisation(teacher_checkpoint):
    cfg = tiny_mimco(teacher_checkpoint)
    cfg['teacher']['input_norm'] = dict(mean=CLIP[0], std=CLIP[1])
    cfg['data_preprocessor'] = dict(type='SelfSupDataPreprocessor', mean=IMAGENET[0],
                                    std=IMAGENET[1], to_rgb=True)
    model = MODELS.build(cfg)
    model.eval()
    raw = torch.rand(2, 3, IMG, IMG) * 255
    student_input = (raw - model.data_preprocessor.mean) / model.data_preprocessor.std
    teacher_input = (raw - torch.tensor(CLIP[0]).view(1, 3, 1, 1)) / torch.tensor(
        CLIP[1]).view(1, 3, 1, 1)
    got = model.target_generator(student_input)
    with torch.no_grad():
        want = model.target_generator.backbone(teacher_input)[-1]
    torch.testing.assert_close(got.patch, want[:, 1:].float(), rtol=1e-4, atol=1e-4)
    # no new checkpoint keys: the statistics come from the config
    assert not any('input.' in k for k in model.state_dict())
