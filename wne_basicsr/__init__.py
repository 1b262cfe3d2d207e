"""wne_basicsr: exact normalization equivariance for any BasicSR denoiser.

``import wne_basicsr`` makes BasicSR import on current torch/torchvision (``compat``, first) and registers the archs,
datasets, losses and metrics; ``import wne_basicsr.models`` registers DenoisingModel and SamplerModel (the entry
points do both). Wrap any ``nn.Module`` (or a registered arch's options) in ``WNE`` and measure it with ``ne_defect``.
"""
# isort: split
from wne_basicsr import compat  # noqa: F401  (must run before anything from basicsr)

# isort: split
from wne_basicsr import archs, data, losses, metrics  # noqa: F401,E402
from wne_basicsr.archs.wrapper_arch import WNE, ScaleEquivariant, WNEInput  # noqa: E402
from wne_basicsr.metrics.ne_defect import ne_defect  # noqa: E402

__all__ = ['WNE', 'WNEInput', 'ScaleEquivariant', 'ne_defect']
__version__ = '0.1.0'
