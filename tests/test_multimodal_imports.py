"""mimco_mm.compat.multimodal_imports: with a recent transformers installed, mmdet and mmseg import
(mmpretrain's multimodal models are switched off); otherwise nothing changes."""
import os
import os.path as osp
import shutil
import subprocess
import sys
import types
import warnings

import mmpretrain
import pytest

from mimco_mm.compat.multimodal_imports import mend, missing_imports, transformers_imports
from tools._common import ROOT

# the version a GPU image of ours carried (5.17) is as recent; 5.24 is the one pinned here
TRANSFORMERS = 'transformers==5.24.0'


def test_the_names_are_read_from_mmpretrains_multimodal_source():
    pairs = transformers_imports(osp.dirname(mmpretrain.__file__))
    removed = {('transformers.modeling_utils', n) for n in (
        'apply_chunking_to_forward', 'find_pruneable_heads_and_indices', 'prune_linear_layer')}
    assert removed <= set(pairs)
    assert ('transformers.models.bert.configuration_bert', 'BertConfig') in pairs  # inside try
    assert ('transformers', 'GPT2Tokenizer') not in pairs  # a docstring example, never run


def test_only_imports_that_run_on_import_count(tmp_path):
    source = tmp_path / 'models' / 'multimodal' / 'm.py'
    source.parent.mkdir(parents=True)
    source.write_text('''
import transformers.utils
try:
    from transformers.a import A
except:
    A = None
if True:
    from transformers.b import B
def f():
    from transformers.c import C
class K:
    from transformers.d import D
from . import transformers_like
''')
    assert transformers_imports(str(tmp_path)) == [
        ('transformers.a', 'A'), ('transformers.b', 'B'), ('transformers.utils', None)]


def test_missing_imports_name_modules_and_attributes():
    pairs = [('os', 'path'), ('os', 'no_such_name'), ('no_such_module_x', None),
             ('no_such_module_y', 'Z'), ('json', None)]
    assert missing_imports(pairs) == ['os.no_such_name', 'no_such_module_x',
                                      'no_such_module_y.Z']


@pytest.mark.parametrize('line, switched_off', [('from transformers import path', False),
                                                ('from transformers import removed_name', True)])
def test_the_flag_changes_only_when_a_name_is_missing(tmp_path, monkeypatch, line, switched_off):
    """`os` stands in for transformers (not installed here): it has `path`, not `removed_name`."""
    import importlib
    source = tmp_path / 'models' / 'utils' / 'huggingface.py'
    source.parent.mkdir(parents=True)
    source.write_text(line + '\n')
    real_import = importlib.import_module
    monkeypatch.setattr(importlib, 'import_module',
                        lambda name: real_import(name.replace('transformers', 'os')))
    dependency = types.SimpleNamespace(WITH_MULTIMODAL=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        missing = mend(dependency, str(tmp_path))
    monkeypatch.undo()
    assert dependency.WITH_MULTIMODAL is (not switched_off)
    assert missing == (['transformers.removed_name'] if switched_off else [])
    assert len(caught) == int(switched_off)
    if switched_off:
        assert 'lacks transformers.removed_name' in str(caught[0].message)


def transformers_dir():
    """A recent transformers and what it needs, but nothing this venv has, installed once with
    pip --target into the mimco_mm cache (where the mmcv wheel lives)."""
    from importlib import metadata
    cache = os.environ.get('MIMCO_CACHE', osp.expanduser('~/.cache/mimco_mm'))
    tag = f'py{sys.version_info[0]}{sys.version_info[1]}'
    target = osp.join(cache, 'test-deps', f'{TRANSFORMERS.replace("==", "-")}-{tag}')
    if osp.isfile(osp.join(target, '.complete')):
        return target
    partial = target + '.partial'
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-compile', '--target',
                    partial, TRANSFORMERS], check=True)
    # keep the venv's own numpy, packaging, ...: drop what it already has
    have = {d.metadata['Name'].lower().replace('_', '-') for d in metadata.distributions()}
    for dist in metadata.distributions(path=[partial]):
        if dist.metadata['Name'].lower().replace('_', '-') in have:
            for root in {f.parts[0] for f in dist.files or []}:
                path = osp.join(partial, root)
                if osp.isdir(path):  # several distributions may share a root (bin/)
                    shutil.rmtree(path)
                elif osp.exists(path):
                    os.remove(path)
    open(osp.join(partial, '.complete'), 'w').close()
    os.rename(partial, target)
    return target


def test_mmdet_and_mmseg_import_beside_a_recent_transformers():
    """With pycocotools (mmdet's) and transformers 5 importable, mmpretrain 1.2.0 breaks
    `import mmdet.models` (reproduced first, without mimco_mm); after `import mimco_mm` they
    import, the multimodal models are placeholders, and a Mask R-CNN config builds."""
    env = dict(os.environ, PYTHONPATH=transformers_dir())
    before = subprocess.run([sys.executable, '-c', 'import transformers, mmdet.models'],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert before.returncode != 0 and 'NoneType takes no arguments' in before.stderr
    after = subprocess.run([sys.executable, '-c', '''
import mimco_mm, mmdet.models, mmseg.models, transformers
from mmengine.config import Config
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
register_all_modules()
cfg = Config.fromfile("configs/benchmarks/mask-rcnn_vit-tiny_cpu.py")
cfg.model.backbone.init_cfg = None
model = MODELS.build(cfg.model)
print("built", type(model).__name__, "transformers", transformers.__version__)
'''], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert after.returncode == 0, after.stderr[-3000:]
    assert 'built MaskRCNN transformers 5.24.0' in after.stdout
    assert 'lacks transformers.modeling_utils' in after.stderr
