"""Packaging for wne_basicsr.

basicsr 1.4.2 is not among the requirements: pip would also install its tb-nightly, which clobbers tensorboard. Install
torch first, then `pip install --no-build-isolation --no-deps basicsr==1.4.2`, then this package (see the Makefile);
``import wne_basicsr`` says so where basicsr is missing. requirements.txt repeats install_requires less torch.
"""
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
    entry_points={'console_scripts': [
        'wne-train = wne_basicsr.train:main',
        'wne-test = wne_basicsr.test:main',
        'wne-denoise = wne_basicsr.cli.denoise:main',
        'wne-mismatch = wne_basicsr.cli.mismatch_curve:main',
        'wne-mismatch-table = wne_basicsr.cli.mismatch_table:main',
        'wne-sampler-table = wne_basicsr.cli.sampler_table:main',
        'wne-training-curves = wne_basicsr.cli.training_curves:main',
        'wne-create-lmdb = wne_basicsr.cli.create_lmdb:main',
        'wne-prepare-sidd = wne_basicsr.cli.prepare_sidd:main',
        'wne-download = wne_basicsr.cli.download_datasets:main',
        'wne-convert = wne_basicsr.cli.convert_reference_checkpoint:main',
        'wne-delta-histogram = wne_basicsr.cli.delta_histogram:main',
        'wne-normalized-residual = wne_basicsr.cli.normalized_residual:main',
        'wne-adaptive-filters = wne_basicsr.cli.adaptive_filters:main',
        'wne-compare-panels = wne_basicsr.cli.compare_panels:main',
        'wne-shift-manipulation = wne_basicsr.cli.shift_manipulation:main',
    ]},
    license='Apache-2.0',
)
