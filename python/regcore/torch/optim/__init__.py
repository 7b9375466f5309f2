"""regcore.torch.optim: torch.optim.SGD with regcore's fused penalized step."""
from .sgd import SGD  # noqa: F401
