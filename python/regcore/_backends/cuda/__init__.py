"""Native CUDA backend: the CUDA module's kernels on device views (one module per family)."""
from .random import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .init import *  # noqa: F401,F403
from .sgd import *  # noqa: F401,F403
from .batchnorm import *  # noqa: F401,F403
