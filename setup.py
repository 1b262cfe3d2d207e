"""Packaging for wne_basicsr (install basicsr 1.4.2 first with --no-build-isolation; see the Makefile)."""
from setuptools import find_packages, setup

with open('README.md', encoding='utf-8') as f:
    long_description = f.read()

setup(
    name='wne_basicsr',
    version='0.1.0',
    description='Exact normalization equivariance for any BasicSR denoiser (WNE wrapper, data, models, tools)',
    long_description=long_description,
    long_description_content_type='text/markdown',
    packages=find_packages(include=['wne_basicsr', 'wne_basicsr.*']),
    python_requires='>=3.10',
    install_requires=[
        'torch',
        'torchvision',
        'basicsr==1.4.2',
        'timm',
        'einops',
        'opencv-python',
        'lmdb',
        'tensorboard',
        'matplotlib',
        'pyyaml',
        'tqdm',
        'numpy',
        'scipy',
        'scikit-image',
        'imageio',
        'Pillow',
        'requests',
    ],
    extras_require={'test': ['pytest', 'ruff']},
    license='Apache-2.0',
)
