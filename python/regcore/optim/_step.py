"""Public functional API of penalized SGD: ``sgd_step_``, ``sgd_step_multi_`` and ``penalty``.

Everything is validated before anything is written: every tensor of a multi-tensor step and
every hyper-parameter. A failure raises TypeError/ValueError naming the tensor and the argument
and leaves all parameters and buffers as they were. docs/sgd.md has the math.
"""
from __future__ import annotations

import numpy as np

from .. import _arrays, _native, _validate
from .._backend import backend_for, cpu_backend_name
from .._errors import type_error, value_error
from ._hyper import DEFAULTS, make_hyper, max_norm_geometry

__all__ = ["sgd_step_", "sgd_step_multi_", "penalty"]


def _as_list(name: str, value) -> list:
    if isinstance(value, (list, tuple)):
        return list(value)
    raise type_error(name, "a list or tuple of arrays", type(value).__name__)


def _check_tensors(params, grads, bufs, hyper, names):
    """Inspect every tensor; returns (param refs, grad refs, buf refs or None, geometries)."""
    pn, gn, bn = names[:3]
    if len(grads) != len(params):
        raise value_error(gn, f"{len(params)} gradients (one per parameter)", f"{len(grads)}")
    if bufs is not None and len(bufs) != len(params):
        raise value_error(bn, f"{len(params)} buffers or None entries (one per parameter)", f"{len(bufs)}")
    prefs, grefs, brefs, geoms = [], [], [], []
    written, read = [], []   # parameters and buffers are updated; gradients only read
    labels = names[3] if isinstance(names[3], list) else range(len(params))
    for i, (p, g) in enumerate(zip(params, grads)):
        k = labels[i]
        pi, gi, bi = (f"{pn}[{k}]", f"{gn}[{k}]", f"{bn}[{k}]") if names[3] is not False else (pn, gn, bn)
        pr = _arrays.inspect(p, pi, writeable=True)
        gr = _arrays.inspect(g, gi, dtypes=(pr.dtype,))
        _arrays.same_place(pr, gr, gi)
        if gr.shape != pr.shape:
            raise value_error(gi, f"the shape of {pi} {pr.shape}", gr.shape)
        if prefs and not prefs[0].same_place(pr):
            raise value_error(pi, f"an array on {prefs[0].device}:{prefs[0].device_id} like {pn}[0]",
                              f"{pr.device}:{pr.device_id}")
        br = None
        b = None if bufs is None else bufs[i]
        if b is not None:
            br = _arrays.inspect(b, bi, writeable=True, dtypes=(pr.dtype,))
            _arrays.same_place(pr, br, bi)
            if br.shape != pr.shape:
                raise value_error(bi, f"the shape of {pi} {pr.shape}", br.shape)
        written += [(pr, pi), (br, bi)]
        read.append((gr, gi))
        geoms.append(max_norm_geometry(pr.shape, hyper, pi))
        prefs.append(pr)
        grefs.append(gr)
        brefs.append(br)
    _arrays.refuse_overlap(*written, read=read)
    return prefs, grefs, brefs, geoms


_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


def _fast_numpy_plan(params, grads, bufs, hyper):
    """The common case, checked cheaply: plain NumPy arrays on the native CPU backend.

    Returns (params, grads, bufs, geometries) when every check of ``_check_tensors`` passes,
    else None, and then ``_check_tensors`` runs and raises the error that names the tensor.
    The full path costs about 10 us per tensor (ArrayRef objects, one __array_interface__ dict
    per array for the aliasing check): 2 ms for 200 tensors, as much as the step itself moves
    10M parameters in. Here it is a few attribute reads per array and one native call.
    """
    if _native.cpu is None or cpu_backend_name() != "cpu" or len(grads) != len(params):
        return None
    if bufs is not None and len(bufs) != len(params):
        return None
    nd = np.ndarray
    arrays = []
    for i, p in enumerate(params):
        g = grads[i]
        if type(p) is not nd or type(g) is not nd:
            return None
        dt = p.dtype
        if (dt != _F32 and dt != _F64) or g.dtype != dt or g.shape != p.shape:
            return None
        pf, gf = p.flags, g.flags
        if not (pf.c_contiguous and pf.writeable and gf.c_contiguous):
            return None
        arrays.append(p)
        b = None if bufs is None else bufs[i]
        if b is not None:
            if type(b) is not nd or b.dtype != dt or b.shape != p.shape:
                return None
            bf = b.flags
            if not (bf.c_contiguous and bf.writeable):
                return None
            arrays.append(b)
    # Gradients join the test: sharing no byte with anything is the common case; any overlap
    # (even the harmless one of two gradients) sends the call to the full path, which decides.
    if not _native.cpu.sgd_disjoint(arrays + list(grads)):
        return None
    try:
        geoms = [max_norm_geometry(p.shape, hyper, "param") for p in params]
    except ValueError:  # an axis the tensor lacks: the full path names the tensor
        return None
    return list(params), list(grads), (list(bufs) if bufs is not None else [None] * len(params)), geoms


class _FastPlan:
    """A step over plain NumPy arrays that ``_fast_numpy_plan`` accepted."""

    def __init__(self, checked, hyper, fresh):
        self.params, self.grads, self.bufs, self.geoms = checked
        self.hyper, self.fresh = hyper, fresh

    def run(self) -> list:
        from .._backend import native_backend

        be = native_backend("cpu")
        hyper, out_bufs = self.hyper, list(self.bufs)
        firsts = list(self.fresh)
        if hyper.uses_momentum:
            for i, p in enumerate(self.params):
                if out_bufs[i] is None:
                    out_bufs[i] = np.empty(p.shape, dtype=p.dtype)
                    firsts[i] = True
            kernel_bufs = out_bufs
        else:
            kernel_bufs = [None] * len(out_bufs)
        be.sgd_step_multi(self.params, self.grads, kernel_bufs, firsts, self.geoms, hyper)
        return list(self.bufs) if not hyper.uses_momentum else out_bufs


def _fresh_flags(fresh, bufs, n, name) -> list:
    """Per tensor: is its given momentum buffer to be started (written as on a first step, not
    read)? ``fresh`` is a bool for all tensors or one bool per tensor."""
    flags = [fresh] * n if isinstance(fresh, (bool, np.bool_)) else _as_list(name, fresh)
    if len(flags) != n or not all(isinstance(f, (bool, np.bool_)) for f in flags):
        raise type_error(name, f"a bool or {n} bools (one per parameter)", fresh)
    flags = [bool(f) for f in flags]
    for i, f in enumerate(flags):
        if f and (bufs is None or bufs[i] is None):
            raise value_error(name, "True only for parameters given a buffer to start", f"True at {i} with no buffer")
    return flags


def make_plan(params, grads, bufs, hyper, names, fresh=False):
    """A validated step (nothing written yet): the cheap path when it applies, else the full one."""
    fresh = _fresh_flags(fresh, bufs, len(params), "fresh_buffers")
    checked = _fast_numpy_plan(params, grads, bufs, hyper)
    if checked is not None:
        return _FastPlan(checked, hyper, fresh)
    return _Plan(params, grads, bufs, hyper, names, fresh)


class _Plan:
    """A validated step, ready to run: nothing has been written yet."""

    def __init__(self, params, grads, bufs, hyper, names, fresh):
        prefs, grefs, brefs, geoms = _check_tensors(params, grads, bufs, hyper, names)
        self.hyper, self.fresh = hyper, fresh
        self.prefs, self.grefs, self.brefs, self.geoms = prefs, grefs, brefs, geoms
        self.bufs = list(bufs) if bufs is not None else [None] * len(prefs)
        self.backend = backend_for(prefs[0], names[0]) if prefs else None

    def run(self) -> list:
        if not self.prefs:
            return []
        hyper, prefs, brefs = self.hyper, self.prefs, list(self.brefs)
        out_bufs = list(self.bufs)
        firsts = list(self.fresh)
        if hyper.uses_momentum:
            for i, pr in enumerate(prefs):
                if brefs[i] is None:
                    out_bufs[i], brefs[i] = _arrays.empty_like_place(pr.obj, pr.shape, pr.dtype)
                    firsts[i] = True
        self.backend.sgd_step_multi(
            [r.target for r in prefs], [r.target for r in self.grefs],
            [r.target if (r is not None and hyper.uses_momentum) else None for r in brefs],
            firsts, self.geoms, hyper)
        return out_bufs


def sgd_step_(param, grad, momentum_buf=None, lr=DEFAULTS["lr"], momentum=DEFAULTS["momentum"],
              dampening=0.0, nesterov=False, weight_decay=0.0, decoupled_weight_decay=0.0, l1=0.0,
              l1_mode="proximal", max_norm=None, max_norm_axis=0, maximize=False):
    """One penalized SGD step on ``param`` in place; returns the momentum buffer.

    ``momentum_buf=None`` with ``momentum > 0`` starts a new buffer (equal to the step's
    gradient, as torch.optim.SGD does) and returns it; with ``momentum == 0`` no buffer is read
    or written and the given one (or None) is returned unchanged.
    """
    hyper = make_hyper(**dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                             weight_decay=weight_decay, decoupled_weight_decay=decoupled_weight_decay,
                             l1=l1, l1_mode=l1_mode, max_norm=max_norm, max_norm_axis=max_norm_axis,
                             maximize=maximize))
    (buf,) = make_plan([param], [grad], [momentum_buf], hyper, ("param", "grad", "momentum_buf", False)).run()
    return buf


def sgd_step_multi_(params, grads, momentum_bufs=None, lr=DEFAULTS["lr"], momentum=DEFAULTS["momentum"],
                    dampening=0.0, nesterov=False, weight_decay=0.0, decoupled_weight_decay=0.0, l1=0.0,
                    l1_mode="proximal", max_norm=None, max_norm_axis=0, maximize=False, *, fresh_buffers=False):
    """``sgd_step_`` on every tensor of a list at once (one parallel region / one launch).

    Bit for bit the same as a loop of ``sgd_step_``. ``momentum_bufs`` is None or a list with an
    array or None per parameter; returns the list of buffers. All tensors are checked before
    any is written.

    ``fresh_buffers`` (a bool, or one per parameter): the given buffer holds no history yet and
    is started as a None buffer would be (written with the step's gradient, never read), for
    callers that allocate their buffers themselves (regcore.torch.optim.SGD).
    """
    hyper = make_hyper(**dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                             weight_decay=weight_decay, decoupled_weight_decay=decoupled_weight_decay,
                             l1=l1, l1_mode=l1_mode, max_norm=max_norm, max_norm_axis=max_norm_axis,
                             maximize=maximize))
    params = _as_list("params", params)
    grads = _as_list("grads", grads)
    bufs = None if momentum_bufs is None else _as_list("momentum_bufs", momentum_bufs)
    return make_plan(params, grads, bufs, hyper, ("params", "grads", "momentum_bufs", True), fresh_buffers).run()


def penalty(params, l1=0.0, l2=0.0) -> float:
    """``l1 * sum|w| + l2/2 * sum w^2`` over a list of arrays (or one array), as a Python float.

    One fused native reduction in float64 with a fixed order (docs/sgd.md): the value does not
    depend on the thread count or the ISA level, and the NumPy backend gives the same bits.
    """
    l1 = _validate.nonnegative("l1", l1)
    l2 = _validate.nonnegative("l2", l2)
    single = not isinstance(params, (list, tuple))
    items = [params] if single else list(params)
    refs = []
    for i, x in enumerate(items):
        ref = _arrays.inspect(x, "params" if single else f"params[{i}]")
        if refs and not refs[0].same_place(ref):
            raise value_error(f"params[{i}]", f"an array on {refs[0].device}:{refs[0].device_id}",
                              f"{ref.device}:{ref.device_id}")
        refs.append(ref)
    if not refs:
        return 0.0
    be = backend_for(refs[0], "params")
    s_abs, s_sq = be.penalty_sums([r.target for r in refs])
    value = 0.0
    if l1 != 0.0:
        value = value + l1 * s_abs
    if l2 != 0.0:
        value = value + (0.5 * l2) * s_sq
    return float(value)


