"""A stand-in for a cluster's PyTorch environment, for the --system-torch / --offline tests.

`make_system_python(dest)` returns a Python interpreter that can import torch and torchvision
(and what they need) but nothing of the OpenMMLab stack: a fresh venv whose .pth file points at a
folder of hard links to exactly those distributions' files in the project's venv (no copy of the
5 GB CUDA build). Like the GPU images we target, it is itself a venv, which is the case where
`venv --system-site-packages` alone would NOT see its torch.
"""
import os
import os.path as osp
import subprocess
import sys
import sysconfig
from importlib import metadata

try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement


def closure(roots):
    """Installed distributions reachable from `roots` through their requirements."""
    seen, done, todo = {}, set(), [(r, '') for r in roots]
    while todo:
        name, extra = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional / platform-specific requirement that is not installed
        key = dist.metadata['Name'].lower()
        seen[key] = dist
        if (key, extra) in done:
            continue
        done.add((key, extra))
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({'extra': extra}):
                # torch asks for e.g. cuda-toolkit[cufile]: that extra's requirements count too
                todo += [(req.name, e) for e in [''] + sorted(req.extras)]
    return list(seen.values())


def make_system_python(dest, roots=('torch', 'torchvision')):
    site = osp.join(dest, 'site')
    purelib = sysconfig.get_paths()['purelib']
    for dist in closure(roots):
        for f in dist.files or []:
            src = osp.realpath(dist.locate_file(f))
            if not src.startswith(purelib) or not osp.isfile(src):
                continue  # console scripts etc. live outside site-packages
            dst = osp.join(site, osp.relpath(src, purelib))
            os.makedirs(osp.dirname(dst), exist_ok=True)
            if not osp.exists(dst):
                try:
                    os.link(src, dst)
                except OSError:  # another file system: a link to the file does as well
                    os.symlink(src, dst)
    env_dir = osp.join(dest, 'env')
    base = getattr(sys, '_base_executable', sys.executable)
    subprocess.run([base, '-m', 'venv', '--without-pip', env_dir], check=True)
    python = osp.join(env_dir, 'bin', 'python')
    env_site = subprocess.run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                              check=True, capture_output=True, text=True).stdout.strip()
    with open(osp.join(env_site, 'cluster_torch.pth'), 'w') as f:
        f.write(site + '\n')
    return python
