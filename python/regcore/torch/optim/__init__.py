"""regcore.torch.optim: torch.optim.SGD with regcore's fused penalized step, and ``swa_utils``
(weight averaging: AveragedModel, EMA, update_bn, SWALR on regcore's fused update)."""
from . import swa_utils  # noqa: F401
from .sgd import SGD  # noqa: F401
