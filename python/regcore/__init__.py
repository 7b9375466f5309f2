"""regcore: fused, reproducible regularization kernels for neural-network training.

Families:
  random streams          ``regcore.random`` (bits, uniform, normal), ``Generator``
  weight initialization   ``regcore.init`` (xavier, kaiming, lecun, trunc_normal, orthogonal, sparse...)
  dropout and relatives   ``dropout``, ``dropconnect``, ``gaussian_noise``, ``bias_act_dropout``, ``mc_dropout``,
                          ``channel_dropout``, ``alpha_dropout``, ``feature_alpha_dropout``
  normalization           ``batch_norm`` and its split (multi-process) API, ``layer_norm``,
                          ``group_norm``, ``instance_norm``
  penalized SGD           ``sgd_step_``, ``sgd_step_multi_``, ``penalty``, ``regcore.optim.SGD``
  weight averaging        ``ema_update_``, ``swa_update_`` (fused multi-tensor EMA / SWA)
  training helpers        ``EarlyStopping``; ``regcore.preprocess`` (scaling, PCA, whitening; train-only statistics)
Backends: ``numpy`` (pure NumPy), ``cpu`` (native, AVX2/AVX-512, regcore's thread pool), ``cuda``; the backend
follows where the data lives (see ``build_info()``).
"""
from . import random  # noqa: F401
from . import init  # noqa: F401
from .batchnorm import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .channel_dropout import *  # noqa: F401,F403
from .optim import penalty, sgd_step_, sgd_step_multi_  # noqa: F401
from .averaging import ema_update_, swa_update_  # noqa: F401
from .norms import *  # noqa: F401,F403
from ._backend import use_backend  # noqa: F401
from ._build_info import __version__, active_isa, available_isas, build_info, set_isa  # noqa: F401
from ._threads import get_num_threads, set_num_threads, threadpool_limits  # noqa: F401
from ._threads import apply_environment as _apply_thread_environment
from ._threads import hook_threadpoolctl as _hook_threadpoolctl
from ._buffer_cache import buffer_cache_info, empty_buffer_cache, set_buffer_cache_limit  # noqa: F401
from ._buffer_cache import apply_environment as _apply_buffer_cache_environment
from .generator import Generator, default_generator, seed  # noqa: F401
from .early_stopping import EarlyStopping  # noqa: F401
from . import preprocess  # noqa: F401

_apply_thread_environment()
_apply_buffer_cache_environment()
_hook_threadpoolctl()
