"""Where a number comes from: the record every checkpoint (meta['provenance']) and every
metrics.json (`provenance`) carry, so that two results can be compared, or told apart.

    collect(cfg, runner=None, datasets=(), wall_s=None) -> dict with
      git_commit, git_dirty, versions, devices, batch (per_device, effective), lr (configured,
      after_scaling), epochs_or_iters, seed, config_sha256, data (num_samples, sha256), wall_s
"""
import hashlib
import importlib.metadata
import os.path as osp
import platform
import subprocess

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
LIBRARIES = {'torch': 'torch', 'mmengine': 'mmengine', 'mmcv': 'mmcv', 'mmpretrain': 'mmpretrain',
             'mmdet': 'mmdet', 'mmseg': 'mmsegmentation', 'timm': 'timm', 'mimco_mm': 'mimco_mm'}


def git_state(root=ROOT):
    """(commit, dirty) of the repository the code runs from; (None, None) outside git."""
    try:
        commit = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=root, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                                cwd=root, capture_output=True, text=True, timeout=10,
                                check=True).stdout
        return commit, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def versions():
    import torch
    found = {'python': platform.python_version(), 'cuda': torch.version.cuda}
    for key, dist in LIBRARIES.items():
        try:
            found[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[key] = None
    return found


def devices():
    import torch
    from mmengine.dist import get_world_size
    if torch.cuda.is_available():
        return dict(type='cuda', count=get_world_size(), name=torch.cuda.get_device_name())
    return dict(type='cpu', count=get_world_size(), name=platform.processor() or None)


def data_fingerprint(dataset):
    """Number of samples and a sha256 of the sorted (path relative to the data root, label)
    list: the same data anywhere it is mounted gives the same hash. Wrappers (SeededDataset,
    RepeatDataset, ClassBalancedDataset: how often a file is drawn is the config's business) are
    looked through to the dataset that lists the files."""
    while getattr(dataset, 'dataset', None) is not None:
        dataset = dataset.dataset
    root = getattr(dataset, 'data_root', '') or ''
    entries = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        path = info.get('img_path') or info.get('img_id') or str(i)
        if root and isinstance(path, str) and path.startswith(root):
            path = osp.relpath(path, root)
        entries.append(f'{path}\t{info.get("gt_label", "")}')
    digest = hashlib.sha256('\n'.join(sorted(entries)).encode()).hexdigest()
    return dict(num_samples=len(entries), sha256=digest)


def _training_fields(cfg, runner):
    from mmengine.dist import get_world_size
    loader = cfg.get('train_dataloader') or {}
    per_device = loader.get('batch_size')
    accumulate = (cfg.get('optim_wrapper') or {}).get('accumulative_counts', 1)
    effective = per_device * get_world_size() * accumulate if per_device else None
    optimizer = (cfg.get('optim_wrapper') or {}).get('optimizer') or {}
    scaled = None
    if runner is not None and hasattr(runner, 'optim_wrapper') and \
            hasattr(runner.optim_wrapper, 'param_groups'):
        group = runner.optim_wrapper.param_groups[0]
        scaled = group.get('initial_lr', group.get('lr'))
    train_cfg = cfg.get('train_cfg') or {}
    auto = cfg.get('auto_scale_lr') or {}
    return dict(
        batch=dict(per_device=per_device, effective=effective,
                   base_batch_size=auto.get('base_batch_size'),
                   auto_scale_lr=bool(auto.get('enable', False))),
        lr=dict(configured=optimizer.get('lr'), after_scaling=scaled),
        epochs_or_iters=dict(max_epochs=train_cfg.get('max_epochs'),
                             max_iters=train_cfg.get('max_iters')))


# Keys that say where a run reads and writes, and how it was started, not what it computes: left
# out of config_sha256, so that one recipe has one hash in any work dir, on any mount of the
# data, fresh or resumed (what the data is, `data` records); otherwise compare_runs.py would mark
# every two runs of the same recipe "config differs".
RUN_KEYS = ('work_dir', 'launcher', 'resume', 'experiment_name', 'visualizer')
DATA_LOCATION_KEYS = ('data_root', 'data_prefix', 'ann_file')


def _without_data_locations(value):
    if isinstance(value, dict):
        return {k: ('<data>' if k in DATA_LOCATION_KEYS else _without_data_locations(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_without_data_locations(v) for v in value)
    return value


def recipe_sha256(cfg):
    """sha256 of the config as run (overrides included) without RUN_KEYS, the data locations,
    and `load_from` unless it gives a fresh run its weights (a resume's is where it continues)."""
    from mmengine.config import Config
    recipe = {k: v for k, v in cfg.to_dict().items() if k not in RUN_KEYS}
    if cfg.get('resume') or recipe.get('load_from') is None:
        recipe.pop('load_from', None)
    text = Config(_without_data_locations(recipe)).pretty_text
    return hashlib.sha256(text.encode()).hexdigest()


def collect(cfg, runner=None, datasets=(), wall_s=None):
    """The provenance record of a run (training or evaluation) of `cfg`."""
    commit, dirty = git_state()
    record = dict(git_commit=commit, git_dirty=dirty, versions=versions(), devices=devices())
    record.update(_training_fields(cfg, runner))
    seed = getattr(runner, 'seed', None) if runner is not None else None
    record['seed'] = seed if seed is not None else (cfg.get('randomness') or {}).get('seed')
    record['config_sha256'] = recipe_sha256(cfg)
    fingerprints = [data_fingerprint(d) for d in datasets]
    record['data'] = (fingerprints[0] if len(fingerprints) == 1 else
                      dict(num_samples=sum(f['num_samples'] for f in fingerprints),
                           sha256=hashlib.sha256(''.join(f['sha256'] for f in fingerprints)
                                                 .encode()).hexdigest(),
                           parts=fingerprints) if fingerprints else None)
    record['wall_s'] = wall_s
    return record
