"""The oldest torch mimco_mm runs on, checked when it is imported and before setup installs
anything on top of a cluster's own torch (`tools/setup_env.sh --system-torch`).

torch 2.6 is the floor, for two things older releases lack:
- checkpoints are loaded with `torch.load(weights_only=True)` and an allow-list
  (compat/checkpoint_loading.py) that names one entry under another name (a `getattr` that only
  reaches HistoryBuffer's statistics, allowed as `builtins.getattr`); torch 2.5's `safe_globals`
  takes no such pair, and the only other way, a blanket `weights_only=False`, is what the project
  refuses to do;
- NonFiniteGuardHook, in every training config, computes the gradient norm with
  `torch.nn.utils.get_total_norm`.
On torch 2.5.1 an install goes through and says ok, then every run fails at its first checkpoint
load or first optimizer step (AttributeError); on 2.6.0 the same tests pass. This check names the
problem before anything is installed.

Stdlib only: setup runs this file as a script with the cluster's Python, before mmengine exists
there (`python mimco_mm/torch_check.py`: exit 1 with the reason when that torch is too old).
"""
import re
import sys

MIN_TORCH = (2, 6)


def torch_problem(version, location='?'):
    """None when torch `version` (e.g. '2.6.0+cu124', NGC's '2.6.0a0+ecf3bae') is new enough,
    else the sentence saying why not and what to do."""
    found = re.match(r'(\d+)\.(\d+)', version)
    if found and tuple(int(part) for part in found.groups()) >= MIN_TORCH:
        return None
    floor = '.'.join(map(str, MIN_TORCH))
    return (f'mimco_mm needs torch >= {floor}; this Python has torch {version} ({location}). '
            f'Checkpoints load with torch.load(weights_only=True) and an allow-list that needs '
            f'{floor} (a blanket weights_only=False is refused), and the NaN guard needs '
            f'torch.nn.utils.get_total_norm ({floor}). Install torch >= {floor} into that '
            f'environment, or run tools/setup_env.sh without --system-torch (it installs the '
            f'pinned torch of requirements/build.txt).')


def check_installed_torch():
    """Raise ImportError when the importable torch is older than MIN_TORCH."""
    import torch
    problem = torch_problem(torch.__version__, torch.__file__)
    if problem:
        raise ImportError(problem)


if __name__ == '__main__':
    try:
        check_installed_torch()
    except ImportError as error:
        print(f'[setup] {error}', file=sys.stderr)
        sys.exit(1)
