"""Penalized SGD: the fused step (``sgd_step_``, ``sgd_step_multi_``), the optimizer
(``SGD``), parameter groups (``split_decay_groups``) and the penalty value (``penalty``)."""
from ._step import penalty, sgd_step_, sgd_step_multi_  # noqa: F401
from .groups import split_decay_groups  # noqa: F401
from .sgd import SGD  # noqa: F401
