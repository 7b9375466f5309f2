"""The native backends: an extension module (_regcore_cpu or _regcore_cuda) seen as a backend.

Both extensions export every kernel under the numpy backend's function name and signature, and
pybind11 converts NumPy scalars to the C++ scalar types, so a call forwards unchanged. The one
adaptation is SGD's hyper-parameter record, which the extensions take as separate scalars.

Per-channel normalization arithmetic that an extension does not implement (the CUDA module:
O(C) work, run in the caller's own array library on the device) falls back to the Array API
formulas of _norm_stats.
"""
from __future__ import annotations


def _array_api_glue() -> dict:
    from .. import _norm_stats as ns

    return {"bn_coefficients": ns.coefficients, "bn_running_update": ns.running_update,
            "bn_grad_coefficients": ns.grad_coefficients, "gn_grad_coefficients": ns.group_grad_coefficients}


class NativeBackend:
    def __init__(self, ext, name: str):
        self._ext = ext
        self.name = name

    def __getattr__(self, kernel: str):
        # Found once, then kept as an instance attribute: __getattr__ runs only for names not
        # found, and every kernel call of a small batch would otherwise pay this lookup.
        try:
            fn = getattr(self._ext, kernel)
        except AttributeError:
            fn = _array_api_glue().get(kernel)
            if fn is None:
                raise AttributeError(f"the {self.name} backend has no kernel {kernel!r}") from None
        if not kernel.startswith("__"):
            self.__dict__[kernel] = fn
        return fn

    def sgd_step_multi(self, ws, gs, bs, firsts, geoms, h, **half):
        # half: masters / sr_offsets / seed, only for 16-bit options (docs/sgd.md)
        self._ext.sgd_step_multi(ws, gs, bs, firsts, geoms, h.lr, h.momentum, h.damp_keep, h.wd,
                                 h.decay_keep, h.l1, h.l1_thr, h.flags, h.max_norm, **half)

    def __repr__(self) -> str:
        return f"<regcore {self.name} backend>"
