"""Pure-NumPy backend: always available, the same answers as the native backends (one module
per family)."""
from .random import random_bits, random_normal, random_uniform  # noqa: F401
from .batchnorm import (bn_grad_apply, bn_grad_reduce, bn_moments, bn_normalize,  # noqa: F401
                        ln_grad_apply, ln_grad_reduce, ln_normalize)
