"""Which packages an install still needs, and a wheelhouse that holds them.

Used by tools/setup_env.sh (standard library + pip only: it runs before anything is installed).

    python tools/install/deps.py missing REQ [REQ ...]
        Print, one per line, the requirements of the installed distributions REQ (recursively)
        that nothing installed satisfies. Used with `--system-torch`, where the OpenMMLab
        packages are installed with --no-deps on top of a PyTorch environment we must not touch.

    python tools/install/deps.py wheelhouse DIR --requirements FILE [...] [--python-version 3.12]
            [--exclude NAME ...] [--max-glibc 2.28]
        Download, for the target Python, every wheel FILE's requirements need (recursively,
        markers evaluated for that Python), except the excluded names and their own needs.

Why not plain `pip install` / `pip download`: mmcv and mmengine declare `opencv-python`, while
GPU images ship `opencv-python-headless` (the same `cv2`), and pip would install a second OpenCV
over it; and `pip download` cannot leave out what the target already has (torch, numpy, ...),
which matters when the wheelhouse must be carried to an offline node.
"""
import argparse
import email.parser
import glob
import os
import os.path as osp
import subprocess
import sys
import zipfile
from importlib import metadata

try:
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # a bare venv: pip always vendors packaging
    from pip._vendor.packaging.markers import default_environment
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name

# Distributions that provide the same importable module: any one satisfies the others.
EQUIVALENT = [
    {'opencv-python', 'opencv-python-headless', 'opencv-contrib-python',
     'opencv-contrib-python-headless'},
]


def platforms(max_glibc='2.28'):
    """The x86-64 wheel tags a node with glibc `max_glibc` accepts. pip matches a manylinux_2_N
    tag only for the N it is given, so every N up to the node's is named (2.28: RHEL 8 and
    newer, the oldest glibc current PyTorch wheels support)."""
    top = int(max_glibc.split('.')[1])
    return ([f'manylinux_2_{n}_x86_64' for n in range(top, 16, -1)] +
            ['manylinux2014_x86_64', 'manylinux2010_x86_64', 'manylinux1_x86_64', 'linux_x86_64'])


def alternatives(name):
    """All distribution names that satisfy a requirement on `name` (canonical form)."""
    name = canonicalize_name(name)
    for group in EQUIVALENT:
        if name in group:
            return group
    return {name}


def applies(req, env):
    """Whether a Requires-Dist line applies in `env` (python version; no extras requested)."""
    return req.marker is None or req.marker.evaluate(dict(env, extra=''))


def installed_version(name):
    for alt in alternatives(name):
        try:
            return alt, metadata.version(alt)
        except metadata.PackageNotFoundError:
            continue
    return None, None


def missing(roots):
    """Requirements reachable from the installed distributions `roots` that are not satisfied.

    Returns a list of requirement strings (e.g. 'addict', 'yapf>=0.30'), in discovery order.
    A requirement whose only fault is the version is reported too: pip will then upgrade it.
    """
    env, seen, todo, out = default_environment(), set(), list(roots), []
    while todo:
        name = canonicalize_name(todo.pop(0))
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            sys.exit(f'[deps] {name} is not installed; install it before asking what it needs')
        for line in requires:
            req = Requirement(line)
            if not applies(req, env):
                continue
            dist, version = installed_version(req.name)
            if dist is None or (req.specifier and not req.specifier.contains(version, prereleases=True)):
                spec = f'{req.name}{req.specifier}'
                if spec not in out:
                    out.append(spec)
            elif dist not in seen:
                todo.append(dist)
    return out


def read_requirements(paths):
    reqs = []
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.split('#', 1)[0].strip()
                if line and not line.startswith('-'):
                    reqs.append(Requirement(line))
    return reqs


def wheel_requires(path):
    """Requires-Dist lines of a wheel file."""
    with zipfile.ZipFile(path) as zf:
        meta = next(n for n in zf.namelist() if n.endswith('.dist-info/METADATA'))
        msg = email.parser.Parser().parsestr(zf.read(meta).decode())
    return msg.get_all('Requires-Dist') or []


def wheel_name(path):
    return canonicalize_name(osp.basename(path).split('-')[0])


def download(spec, out_dir, python_version, constraints, max_glibc='2.28'):
    """Fetch one binary wheel for the target (no dependencies); return its path."""
    before = set(glob.glob(osp.join(out_dir, '*.whl')))
    cmd = [sys.executable, '-m', 'pip', 'download', '--quiet', '--disable-pip-version-check',
           '--no-deps', '--only-binary=:all:', '--implementation', 'cp',
           '--python-version', python_version, '-d', out_dir, spec]
    for platform in platforms(max_glibc):
        cmd += ['--platform', platform]
    for c in constraints:
        cmd += ['-c', c]
    subprocess.run(cmd, check=True)
    new = set(glob.glob(osp.join(out_dir, '*.whl'))) - before
    name = canonicalize_name(Requirement(spec).name)
    hits = [p for p in new | before if wheel_name(p) == name]
    if not hits:
        sys.exit(f'[deps] pip downloaded no wheel for {spec}')
    return sorted(hits)[-1]


def download_resolved(out_dir, requirement_files, python_version, constraints, max_glibc):
    """pip's own resolver over all requirement files at once (no exclusions needed)."""
    cmd = [sys.executable, '-m', 'pip', 'download', '--quiet', '--disable-pip-version-check',
           '--only-binary=:all:', '--implementation', 'cp', '--python-version', python_version,
           '-d', out_dir]
    for platform in platforms(max_glibc):
        cmd += ['--platform', platform]
    for c in constraints:
        cmd += ['-c', c]
    for r in requirement_files:
        cmd += ['-r', r]
    subprocess.run(cmd, check=True)
    return {wheel_name(p): p for p in glob.glob(osp.join(out_dir, '*.whl'))}


def wheelhouse(out_dir, requirement_files, python_version, exclude, constraints,
               max_glibc='2.28'):
    """Download the closure of the requirements into `out_dir`; returns {name: wheel path}.

    Without exclusions pip resolves everything at once. With them (packages the target already
    has), the closure is walked here, one wheel at a time, extras included (torch asks for
    cuda-toolkit[cublas, ...]); a package needed twice is fetched once, at the first
    requirement's version: exclusions are for stacks whose pins agree (ours do).
    """
    os.makedirs(out_dir, exist_ok=True)
    if not exclude:
        return download_resolved(out_dir, requirement_files, python_version, constraints,
                                 max_glibc)
    major, minor = python_version.split('.')[:2]
    env = dict(default_environment(), python_version=f'{major}.{minor}',
               python_full_version=f'{major}.{minor}.0')
    excluded = set()
    for name in exclude:
        excluded |= alternatives(name)
    todo = [(r, '') for r in read_requirements(requirement_files) if applies(r, env)]
    got, walked = {}, set()
    while todo:
        req, extra = todo.pop(0)
        name = canonicalize_name(req.name)
        if name in excluded or (name, extra) in walked:
            continue
        if name in {n for p in got for n in alternatives(p)} - {name}:
            continue
        walked.add((name, extra))
        if name not in got:
            got[name] = download(f'{req.name}{req.specifier}', out_dir, python_version,
                                 constraints, max_glibc)
            print(f'[deps] {osp.basename(got[name])}', flush=True)
        for line in wheel_requires(got[name]):
            dep = Requirement(line)
            if dep.marker is None or dep.marker.evaluate(dict(env, extra=extra)):
                todo += [(dep, e) for e in [''] + sorted(dep.extras)]
    return got


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='cmd', required=True)
    m = sub.add_parser('missing')
    m.add_argument('roots', nargs='+')
    w = sub.add_parser('wheelhouse')
    w.add_argument('out_dir')
    w.add_argument('--requirements', nargs='+', required=True)
    w.add_argument('--python-version', default=f'{sys.version_info.major}.{sys.version_info.minor}')
    w.add_argument('--exclude', nargs='*', default=[])
    w.add_argument('--constraints', nargs='*', default=[])
    w.add_argument('--max-glibc', default='2.28', help="the target node's glibc (ldd --version)")
    args = parser.parse_args(argv)
    if args.cmd == 'missing':
        for spec in missing(args.roots):
            print(spec)
    else:
        wheelhouse(args.out_dir, args.requirements, args.python_version, args.exclude,
                   args.constraints, args.max_glibc)


if __name__ == '__main__':
    main()
