"""Native CPU backend: the extension's kernels on NumPy views (one module per family)."""
from .random import *  # noqa: F401,F403
from .batchnorm import *  # noqa: F401,F403
