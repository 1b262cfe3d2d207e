"""wne_basicsr: exact normalization equivariance for any BasicSR denoiser."""
import os

# Large CPU tensors on transparent huge pages (torch's CPU allocator reads this at its first large allocation): whole-
# image inference page-faults far less. A 512x512 DnCNN forward took 1.1 s instead of 2.2 s on the 2-core CI machine.
# Set THP_MEM_ALLOC_ENABLE=0 to opt out.
os.environ.setdefault('THP_MEM_ALLOC_ENABLE', '1')

# isort: split
from wne_basicsr import compat  # noqa: F401  (must run before anything from basicsr)

# isort: split
from wne_basicsr import archs, data, losses, metrics, models  # noqa: F401,E402
from wne_basicsr.registry_errors import explain_unregistered_types  # noqa: E402

explain_unregistered_types()  # an unknown option `type` lists the close registered names

__version__ = '0.1.0'
