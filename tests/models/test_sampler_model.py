"""SamplerModel: its options are checked when the model is built (the runs are in tests/test_sampler_pipeline.py)."""
import pytest

import wne_basicsr  # noqa: F401

# isort: split
from basicsr.models import build_model


def test_model_options_are_validated(tmp_path, gray_folder):
    opt = {'name': 'toy', 'model_type': 'SamplerModel', 'scale': 1, 'num_gpu': 0, 'is_train': False, 'dist': False,
           'rank': 0, 'world_size': 1, 'datasets': {},
           'network_g': {'type': 'DnCNN', 'num_feat': 8, 'num_layers': 3},
           'path': {'pretrain_network_g': None, 'strict_load_g': True, 'results_root': str(tmp_path)},
           'val': {'save_img': False}, 'sampler': {'problem': {'type': 'random_missing'}}}
    assert build_model(opt).config.sigma_init == 1.0
    with pytest.raises(ValueError, match=r"sampler: unknown keys \['steps'\]"):
        build_model({**opt, 'sampler': {'problem': 'denoising', 'steps': 3}})
    with pytest.raises(ValueError, match='always capped'):
        build_model({**opt, 'sampler': {'problem': 'denoising', 'max_steps': None}})
    with pytest.raises(ValueError, match='needs a "sampler"'):
        build_model({k: v for k, v in opt.items() if k != 'sampler'})
