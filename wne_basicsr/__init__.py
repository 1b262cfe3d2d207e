"""wne_basicsr: exact normalization equivariance for any BasicSR denoiser."""
from wne_basicsr import compat  # noqa: F401  (must run before anything from basicsr)

# isort: split
from wne_basicsr import archs, data, losses, metrics, models  # noqa: F401,E402
from wne_basicsr.registry_errors import explain_unregistered_types  # noqa: E402

explain_unregistered_types()  # an unknown option `type` lists the close registered names

__version__ = '0.1.0'
