"""Importing wne_basicsr registers every component in BasicSR's registries."""
import wne_basicsr  # noqa: F401

# isort: split
from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, METRIC_REGISTRY, MODEL_REGISTRY


def test_every_component_is_registered():
    for name in ('WNE', 'WNEInput', 'ScaleEquivariant', 'DnCNN', 'FDnCNN', 'Restormer', 'SwinIR'):
        assert name in ARCH_REGISTRY
    for name in ('NoisyImageDataset', 'NoisyEvalDataset'):
        assert name in DATASET_REGISTRY
    assert 'DenoisingModel' in MODEL_REGISTRY
    assert 'calculate_psnr_float' in METRIC_REGISTRY
