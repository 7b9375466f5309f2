"""Pure-NumPy backend: always available, the same answers as the native backends (one module
per family). Every kernel takes bfloat16 data as either view of it (_kernel_views.py)."""
from ._kernel_views import taking_bfloat16_arrays as _taking_bfloat16_arrays
from .random import random_bits, random_normal, random_uniform  # noqa: F401
from .init import init_sparse_keep, init_trunc_normal  # noqa: F401
from .dropout import *  # noqa: F401,F403
from .sgd import penalty_sums, sgd_step_multi  # noqa: F401
from .averaging import average_multi  # noqa: F401
from .batchnorm import (bn_backward, bn_coefficients, bn_forward, bn_grad_apply, bn_grad_coefficients,  # noqa: F401
                        bn_grad_reduce, bn_moments, bn_normalize, bn_running_update, gn_backward, gn_forward,
                        gn_grad_coefficients, ln_backward, ln_forward, ln_grad_apply, ln_grad_reduce, ln_normalize)
from .channel_dropout import alpha_dropout_forward, channel_dropout  # noqa: F401

# Every kernel this package exports (its public callables), wrapped once here: a kernel added
# above is covered without being listed again.
for _name, _kernel in list(globals().items()):
    if callable(_kernel) and not _name.startswith("_"):
        globals()[_name] = _taking_bfloat16_arrays(_kernel)
del _name, _kernel
