"""A config that names an installed package's file (`_base_ = 'mmdet::_base_/...'`) makes
MMEngine's `_get_cfg_metainfo` read the package's model index and every metafile it lists (255
YAML files for mmpretrain, more for mmdet) to look the name up, again for every such reference
of every config loaded: 0.3 to 0.7 s per load of our detection and segmentation configs. The
files belong to installed packages and do not change while a process runs, so the index of each
package is read once; a lookup returns a copy of the entry, and a name not in the index raises
MMEngine's ValueError, as before."""
import copy
import warnings

_INDEXES = {}  # package path -> {config name: its metafile entry}
UPSTREAM = []  # MMEngine's own function, once installed (tests compare with it)


def package_index(package_path: str) -> dict:
    """{config name (the metafile's `Config` path after `configs/`, `.py` included, as
    MMEngine keys it): metafile entry} of an installed package, the first entry of a name kept
    (MMEngine's rule); read once per process."""
    if package_path not in _INDEXES:
        import os.path as osp

        from mmengine.fileio import load
        index = {}
        model_index = load(osp.join(package_path, '.mim', 'model-index.yml'))
        for meta_path in model_index['Import']:
            for model_cfg in load(osp.join(package_path, '.mim', meta_path))['Models']:
                if 'Config' not in model_cfg:
                    warnings.warn(f'There is not `Config` define in {model_cfg}')
                    continue
                index.setdefault(model_cfg['Config'].partition('/')[-1], model_cfg)
        _INDEXES[package_path] = index
    return _INDEXES[package_path]


def _get_cfg_metainfo(package_path: str, cfg_path: str) -> dict:
    """MMEngine's lookup of `cfg_path` among the metafiles of the package at `package_path`,
    from the index read once."""
    index = package_index(package_path)
    if cfg_path not in index:
        raise ValueError(f'Expected configs: {index.keys()}, but got {cfg_path}')
    return copy.deepcopy(index[cfg_path])


_get_cfg_metainfo._mimco_fix = True


def install():
    from mmengine.config import utils
    from mmengine.hub import hub
    if getattr(utils._get_cfg_metainfo, '_mimco_fix', False):
        return
    UPSTREAM.append(utils._get_cfg_metainfo)
    _get_cfg_metainfo.__doc__ = utils._get_cfg_metainfo.__doc__
    utils._get_cfg_metainfo = _get_cfg_metainfo
    hub._get_cfg_metainfo = _get_cfg_metainfo
