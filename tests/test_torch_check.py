"""The torch floor (mimco_mm/torch_check.py): a torch older than 2.6 is named at import and
before setup installs anything on top of it. On torch 2.5.1 the install used to say ok, and
every run then failed at its first checkpoint load or optimizer step (AttributeError)."""
import os
import os.path as osp
import subprocess
import sys

from mimco_mm.torch_check import MIN_TORCH, torch_problem
from tools._common import ROOT


def test_versions_from_the_floor_on_pass_and_older_ones_are_named():
    assert MIN_TORCH == (2, 6)
    for version in ('2.6.0', '2.6.0+cu124', '2.6.0a0+ecf3bae40a', '2.14.1+cu130', '3.0.0'):
        assert torch_problem(version) is None, version
    for version in ('2.5.1+cu124', '2.4.0a0+07cecf4168', '1.13.1', 'unknown'):
        problem = torch_problem(version, '/opt/torch')
        assert problem.startswith(f'mimco_mm needs torch >= 2.6; this Python has torch {version} '
                                  f'(/opt/torch)'), problem
        assert 'without --system-torch' in problem


def _old_torch(tmp_path, *paths):
    """The environment of a Python whose `torch` is a stand-in of torch 2.5.1 (a folder of
    tmp_path, first on PYTHONPATH, then `paths`)."""
    (tmp_path / 'torch').mkdir()
    (tmp_path / 'torch' / '__init__.py').write_text("__version__ = '2.5.1+cu124'\n")
    return dict(os.environ, PYTHONPATH=':'.join([str(tmp_path), *paths]))


def test_an_old_torch_is_refused_at_import(tmp_path):
    run = subprocess.run([sys.executable, '-c', 'import mimco_mm'], cwd=ROOT, capture_output=True,
                         text=True, env=_old_torch(tmp_path, ROOT), timeout=120)
    assert run.returncode == 1
    assert 'ImportError: mimco_mm needs torch >= 2.6; this Python has torch 2.5.1+cu124' in \
        run.stderr


def test_setup_on_an_old_system_torch_stops_before_installing(tmp_path):
    venv = tmp_path / 'venv'
    run = subprocess.run(['bash', osp.join(ROOT, 'tools/setup_env.sh'), '--system-torch',
                          '--only', 'pretrain', '--no-ops'], capture_output=True, text=True,
                         env=dict(_old_torch(tmp_path), PYTHON=sys.executable, VENV=str(venv)),
                         timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert '[setup] mimco_mm needs torch >= 2.6; this Python has torch 2.5.1+cu124' in run.stderr
    assert not venv.exists()  # nothing created, nothing installed
