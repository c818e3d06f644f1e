"""Installing into an existing PyTorch, offline: tools/setup_env.sh --system-torch --offline,
tools/install/wheelhouse.sh (make wheelhouse) and tools/install/deps.py."""
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'tools', 'install'))
import deps  # noqa: E402

from _system_torch import make_system_python  # noqa: E402

# What GPU images ship beside torch (and the GPU check leaves out of its wheelhouse).
IMAGE_HAS = ['numpy', 'matplotlib', 'opencv-python', 'pillow']


def fake_world(monkeypatch, installed, requires):
    """Make deps.metadata see `installed` {name: version} with `requires` {name: [lines]}."""
    def version(name):
        if name not in installed:
            raise deps.metadata.PackageNotFoundError(name)
        return installed[name]

    def reqs(name):
        if name not in installed:
            raise deps.metadata.PackageNotFoundError(name)
        return requires.get(name, [])
    monkeypatch.setattr(deps.metadata, 'version', version)
    monkeypatch.setattr(deps.metadata, 'requires', reqs)


def test_missing_lists_what_nothing_installed_satisfies(monkeypatch):
    fake_world(monkeypatch,
               installed={'mmengine': '0.10.7', 'opencv-python-headless': '4.10', 'numpy': '1.26',
                          'yapf': '0.30'},
               requires={'mmengine': ['addict', 'numpy>=2', 'opencv-python>=3', 'yapf',
                                      'tomli; python_version < "3.0"',
                                      'pytest; extra == "tests"'],
                         'yapf': ['platformdirs>=3']})
    # addict absent, numpy too old, platformdirs needed by an installed dependency; the
    # headless OpenCV satisfies opencv-python; markers and extras that do not apply are skipped
    assert deps.missing(['mmengine']) == ['addict', 'numpy>=2', 'platformdirs>=3']


def write_wheel(folder, name, requires=()):
    path = osp.join(folder, f'{name}-1.0-py3-none-any.whl')
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr(f'{name}-1.0.dist-info/METADATA', 'Metadata-Version: 2.1\nName: ' + name +
                    '\nVersion: 1.0\n' + ''.join(f'Requires-Dist: {r}\n' for r in requires))
    return path


def test_wheelhouse_closure_evaluates_markers_for_the_target_and_leaves_out_exclusions(
        tmp_path, monkeypatch):
    index = {'top': ['dep', 'big', 'old-only; python_version < "3.11"'],
             'dep': ['leaf'], 'big': ['big-dep'], 'leaf': [], 'old-only': [], 'big-dep': []}
    fetched = []

    def download(spec, out_dir, python_version, constraints, max_glibc):
        name = deps.Requirement(spec).name
        fetched.append((name, python_version))
        return write_wheel(out_dir, name.replace('-', '_'), index[name])
    monkeypatch.setattr(deps, 'download', download)
    reqs = tmp_path / 'reqs.txt'
    reqs.write_text('top  # the only root\n')
    got = deps.wheelhouse(str(tmp_path / 'wh'), [str(reqs)], '3.12', ['big'], [], '2.28')
    assert sorted(got) == ['dep', 'leaf', 'top']  # big and what only big needs are left out
    assert {v for _, v in fetched} == {'3.12'}
    got = deps.wheelhouse(str(tmp_path / 'wh310'), [str(reqs)], '3.10', ['big'], [], '2.28')
    assert 'old-only' in got  # its marker holds on the target, not on this interpreter


@pytest.fixture(scope='module')
def cluster_python(tmp_path_factory):
    """A PyTorch environment like a GPU image's: torch, torchvision, numpy, matplotlib, OpenCV,
    Pillow; no OpenMMLab; itself a venv."""
    return make_system_python(str(tmp_path_factory.mktemp('cluster')),
                              roots=('torch', 'torchvision', 'matplotlib', 'opencv-python'))


@pytest.fixture(scope='module')
def wheelhouse(tmp_path_factory):
    out = tmp_path_factory.mktemp('wheelhouse')
    subprocess.run(['bash', 'tools/install/wheelhouse.sh', str(out), '--only', 'pretrain',
                    '--system-torch', '--exclude', ' '.join(IMAGE_HAS)],
                   cwd=ROOT, check=True, capture_output=True, text=True)
    return out


def offline_env(tmp_path, python, venv):
    env = dict(os.environ, PYTHON=python, VENV=str(venv), MIMCO_CACHE=str(tmp_path / 'cache'),
               # any attempt to reach an index fails at once
               PIP_INDEX_URL='http://127.0.0.1:9/simple', http_proxy='http://127.0.0.1:9',
               https_proxy='http://127.0.0.1:9', PIP_RETRIES='0', PIP_TIMEOUT='2')
    env.pop('PIP_FIND_LINKS', None)
    return env


@pytest.mark.install
def test_offline_install_on_the_system_torch_trains_without_compiled_ops(
        tmp_path, cluster_python, wheelhouse):
    venv = tmp_path / 'venv'
    env = offline_env(tmp_path, cluster_python, venv)
    setup = subprocess.run(['bash', 'tools/setup_env.sh', '--system-torch', '--offline',
                            str(wheelhouse), '--only', 'pretrain', '--no-ops'],
                           cwd=ROOT, env=env, capture_output=True, text=True)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert 'WITHOUT ops' in setup.stdout
    py = str(venv / 'bin' / 'python')
    probe = subprocess.run([py, '-c', '''
import importlib.util, torch, mmcv, mmpretrain, mimco_mm
print(torch.__file__)
print(importlib.util.find_spec("mmcv._ext"), importlib.util.find_spec("mmdet"))
'''], capture_output=True, text=True, env=env)
    assert probe.returncode == 0, probe.stderr
    torch_file, ext = probe.stdout.split('\n')[:2]
    cluster_site = osp.dirname(osp.dirname(osp.dirname(osp.dirname(cluster_python))))
    assert torch_file.startswith(cluster_site), f'torch came from {torch_file}, not the cluster env'
    assert ext == 'None None', 'mmcv ops or mmdet in a --only pretrain --no-ops install'
    # the real tools/train.py runs MimCo there (no compiled op, no mmdet / mmseg import)
    run = subprocess.run([py, 'tools/preflight/check_training.py', 'configs/mimco/vit-tiny_cpu.py',
                          '--iters', '4', '--images', '32', '--batch', '8', '--workers', '0',
                          '--image-size', '48', '40', '--log-interval', '2',
                          '--work-dir', str(tmp_path / 'run')],
                         cwd=ROOT, env=dict(env, OMP_NUM_THREADS='1'), capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert 'teacher bit-identical' in run.stdout
    # a second setup with the same inputs does nothing
    again = subprocess.run(['bash', 'tools/setup_env.sh', '--system-torch', '--offline',
                            str(wheelhouse), '--only', 'pretrain', '--no-ops'],
                           cwd=ROOT, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and 'is up to date' in again.stdout


@pytest.mark.install
def test_system_torch_falls_back_loudly_to_mmcv_without_ops(tmp_path, cluster_python, wheelhouse):
    """No compiled mmcv for this torch and no source to build one: a warning and mmcv-lite for
    --only pretrain, an error for the full install (mmdet / mmseg need the ops)."""
    bare = tmp_path / 'wh'
    shutil.copytree(wheelhouse, bare)
    shutil.rmtree(bare / 'mmcv')
    (bare / 'mmcv').mkdir()
    for whl in (wheelhouse / 'mmcv').glob('mmcv_lite-*.whl'):
        shutil.copy(whl, bare / 'mmcv')
    env = offline_env(tmp_path, cluster_python, tmp_path / 'venv')
    res = subprocess.run(['bash', 'tools/setup_env.sh', '--system-torch', '--offline', str(bare),
                          '--only', 'pretrain'], cwd=ROOT, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "WARNING: mmcv's compiled ops could not be built" in res.stderr
    assert 'WITHOUT ops' in res.stdout
    full = subprocess.run(['bash', 'tools/setup_env.sh', '--system-torch', '--offline', str(bare)],
                          cwd=ROOT, env=dict(env, VENV=str(tmp_path / 'venv2')),
                          capture_output=True, text=True)
    assert full.returncode != 0 and 'mmcv with ops could not be built' in full.stderr


@pytest.mark.install
def test_online_install_without_ops_builds_mmcv_lite_into_the_cache(tmp_path, cluster_python):
    """--system-torch --only pretrain --no-ops with the package index reachable (a GPU node with
    network): mmcv-lite is built from the source pip downloads (tools/install/mmcv_lite.sh, the
    builder the wheelhouse uses too), cached outside the venv, and installed without ops."""
    cache = tmp_path / 'cache'
    env = dict(os.environ, PYTHON=cluster_python, VENV=str(tmp_path / 'venv'),
               MIMCO_CACHE=str(cache))
    setup = subprocess.run(['bash', 'tools/setup_env.sh', '--system-torch', '--only', 'pretrain',
                            '--no-ops'], cwd=ROOT, env=env, capture_output=True, text=True)
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    assert 'building mmcv-lite' in setup.stderr and 'WITHOUT ops' in setup.stdout
    cached = list((cache / 'wheels').glob('mmcv-lite-*/mmcv_lite-2.1.0-*.whl'))
    assert len(cached) == 1
    with zipfile.ZipFile(cached[0]) as whl:
        names = whl.namelist()
    assert 'mmcv/__init__.py' in names and not any('_ext' in n for n in names)
    probe = subprocess.run([str(tmp_path / 'venv' / 'bin' / 'python'), '-c', """
import importlib.util, importlib.metadata as md, mmcv, mmpretrain, mimco_mm
print(mmcv.__version__, md.version('mmcv-lite'), importlib.util.find_spec('mmcv._ext'))
"""], env=env, capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ['2.1.0', '2.1.0', 'None']


def test_setup_rejects_contradictory_options():
    res = subprocess.run(['bash', 'tools/setup_env.sh', '--no-ops'], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 2 and '--no-ops needs --only pretrain' in res.stderr
    res = subprocess.run(['bash', 'tools/setup_env.sh', '--only', 'detection'], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 2 and "not 'detection'" in res.stderr


def test_platform_tags_cover_every_glibc_up_to_the_nodes():
    tags = deps.platforms('2.28')
    assert 'manylinux_2_18_x86_64' in tags and 'manylinux_2_28_x86_64' in tags  # NCCL: 2_18
    assert 'manylinux_2_31_x86_64' not in tags  # would not load on a glibc 2.28 node
    assert 'manylinux_2_35_x86_64' in deps.platforms('2.35')
