"""A recent `transformers` in the environment breaks `import mmdet.models` and `mmseg.models`.

mmpretrain 1.2.0 imports its multimodal models (BLIP, BLIP-2, OFA, RAM, ...) whenever pycocotools
and transformers >= 4.28 are installed (`mmpretrain.utils.dependency.WITH_MULTIMODAL`). Those
modules import names that transformers has since removed (`apply_chunking_to_forward`,
`find_pruneable_heads_and_indices`, `prune_linear_layer` from `transformers.modeling_utils`, gone
after 4.55); BLIP's language model hides the ImportError behind a bare `except:` and then fails
with `TypeError: NoneType takes no arguments`, which mmdet's and mmseg's `try: import mmpretrain`
guards do not catch. mmdet brings pycocotools, and GPU images bring transformers (the H200 node's
has 5.17): without this fix Mask R-CNN and UPerNet cannot even be imported there.

Fix: before mmpretrain's models and datasets are first imported, every name those multimodal
modules import from transformers at import time is looked up (read from mmpretrain's own source).
If one is missing, `WITH_MULTIMODAL` becomes False with one warning naming it: the multimodal
models are then mmpretrain's placeholders (building one raises an ImportError that says what to
install), and everything else imports. With a transformers that has every name, or without
transformers or pycocotools, nothing changes.
"""
import ast
import importlib
import os
import os.path as osp
import sys
import warnings

# mmpretrain's modules imported only under WITH_MULTIMODAL (relative to the package)
MULTIMODAL_SOURCES = ('models/multimodal', 'models/utils/huggingface.py',
                      'models/utils/tokenizer.py')


def _python_files(path):
    if osp.isfile(path):
        yield path
        return
    for folder, _, files in sorted(os.walk(path)):
        for name in sorted(files):
            if name.endswith('.py'):
                yield osp.join(folder, name)


def _import_time_statements(body):
    """The statements of a module body that run on import: into if / try / with blocks, not
    into function or class bodies."""
    for node in body:
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for field in ('body', 'orelse', 'finalbody'):
            yield from _import_time_statements(getattr(node, field, []))
        for handler in getattr(node, 'handlers', []):
            yield from _import_time_statements(handler.body)


def transformers_imports(package_dir):
    """(module, name) pairs that mmpretrain's multimodal modules import from transformers when
    imported; name is None for a plain `import transformers...`."""
    found = set()
    for source in MULTIMODAL_SOURCES:
        for path in _python_files(osp.join(package_dir, source)):
            with open(path, encoding='utf-8') as f:
                tree = ast.parse(f.read(), filename=path)
            for node in _import_time_statements(tree.body):
                if (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                        and node.module.split('.')[0] == 'transformers'):
                    found.update((node.module, alias.name) for alias in node.names)
                elif isinstance(node, ast.Import):
                    found.update((alias.name, None) for alias in node.names
                                 if alias.name.split('.')[0] == 'transformers')
    return sorted(found, key=lambda pair: (pair[0], pair[1] or ''))


def missing_imports(pairs):
    """The `module.name` (or module) strings of `pairs` that cannot be imported."""
    missing = []
    for module, name in pairs:
        try:
            found = importlib.import_module(module)
            if name is not None:
                getattr(found, name)  # transformers' lazy modules import on attribute access
        except Exception:  # ImportError, AttributeError, or a lazy import's own failure
            missing.append(module if name is None else f'{module}.{name}')
    return missing


def mend(dependency, package_dir):
    """Switch `dependency.WITH_MULTIMODAL` off when a transformers import of the multimodal
    modules under `package_dir` (mmpretrain's) would fail. Returns the missing names."""
    missing = missing_imports(transformers_imports(package_dir))
    if missing:
        dependency.WITH_MULTIMODAL = False
        try:
            from importlib.metadata import version
            installed = f'transformers {version("transformers")}'
        except Exception:
            installed = 'the installed transformers'
        shown = ', '.join(missing[:4]) + (f' and {len(missing) - 4} more' if len(missing) > 4
                                          else '')
        warnings.warn(
            f"mimco_mm: {installed} lacks {shown}, which mmpretrain 1.2.0's multimodal models "
            f"import; they are switched off (placeholders) so that mmpretrain, mmdet and mmseg "
            f"import. Only BLIP / OFA / RAM-style models need them (a transformers that still "
            f"has the names: < 4.56 by public reports).", stacklevel=3)
    return missing


def install():
    from mmpretrain.utils import dependency
    if getattr(dependency, '_mimco_fix', False):
        return
    dependency._mimco_fix = True
    if not dependency.WITH_MULTIMODAL:
        return  # no transformers (or no pycocotools): mmpretrain imports no multimodal model
    if 'mmpretrain.models' in sys.modules or 'mmpretrain.datasets' in sys.modules:
        return  # imported before us, so they imported fine: nothing to mend
    mend(dependency, osp.dirname(osp.dirname(osp.abspath(dependency.__file__))))
