"""Pure-NumPy backend: always available, the same answers as the native backends (one module
per family)."""
from .random import random_bits, random_normal, random_uniform  # noqa: F401
from .init import init_sparse_keep, init_trunc_normal  # noqa: F401
from .dropout import *  # noqa: F401,F403
from .sgd import penalty_sums, sgd_step_multi  # noqa: F401
from .averaging import average_multi  # noqa: F401
from .batchnorm import (bn_backward, bn_coefficients, bn_forward, bn_grad_apply, bn_grad_coefficients,  # noqa: F401
                        bn_grad_reduce, bn_moments, bn_normalize, bn_running_update, gn_backward, gn_forward,
                        gn_grad_coefficients, ln_backward, ln_forward, ln_grad_apply, ln_grad_reduce, ln_normalize)
from .channel_dropout import alpha_dropout_forward, channel_dropout  # noqa: F401
