"""regcore.torch.nn: modules (drop-in replacements for torch's), ``functional`` and ``init``."""
from . import functional, init  # noqa: F401
from .dropout import BiasActDropout, DropConnectLinear, Dropout, GaussianNoise  # noqa: F401
from .channel_dropout import AlphaDropout, Dropout1d, Dropout2d, Dropout3d, FeatureAlphaDropout  # noqa: F401
from .normalization import (BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm, InstanceNorm1d,  # noqa: F401
                            InstanceNorm2d, InstanceNorm3d, LayerNorm)
from .sync_batchnorm import SyncBatchNorm  # noqa: F401
