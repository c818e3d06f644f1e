"""mimco_mm: MimCo pre-training and its transfer benchmarks on the OpenMMLab stack.

The pinned dependencies are installed by tools/setup_env.sh (mmcv must be compiled against the
installed torch, which pip cannot express), so install_requires stays empty on purpose.
"""
from setuptools import find_packages, setup

setup(
    name='mimco_mm',
    version='0.1.0',
    description='MimCo: masked image modeling with a frozen contrastive teacher (OpenMMLab)',
    packages=find_packages(include=['mimco_mm', 'mimco_mm.*']),
    python_requires='>=3.10',
)
