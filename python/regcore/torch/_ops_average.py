"""``torch.ops.regcore.ema_update_`` / ``swa_update_``: the fused multi-tensor running-average
update (averages written in place: declared mutated), the array API's ``ema_update_`` and
``swa_update_``. Inputs are dense contiguous tensors of one device (regcore.torch.optim.swa_utils
makes them so)."""
from __future__ import annotations

from .. import averaging
from ._library import define_inplace


def _ema(averages, params, decay):
    averaging.ema_update_(averages, params, decay)


def _swa(averages, params, n_averaged):
    averaging.swa_update_(averages, params, n_averaged)


ema_update_ = define_inplace("ema_update_(Tensor(a!)[] averages, Tensor[] params, float decay) -> ()",
                             _ema, lambda *args: None, mutates=("averages",))
swa_update_ = define_inplace("swa_update_(Tensor(a!)[] averages, Tensor[] params, int n_averaged) -> ()",
                             _swa, lambda *args: None, mutates=("averages",))
