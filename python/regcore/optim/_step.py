"""Public functional API of penalized SGD: ``sgd_step_``, ``sgd_step_multi_`` and ``penalty``.

Everything is validated before anything is written: every tensor of a multi-tensor step and
every hyper-parameter. A failure raises TypeError/ValueError naming the tensor and the argument
and leaves all parameters and buffers as they were. docs/sgd.md has the math.
"""
from __future__ import annotations

import numpy as np

import dataclasses

from .. import _arrays, _dtypes, _native, _validate
from .._backend import backend_for, cpu_backend_name
from .._errors import type_error, value_error
from ..generator import blocks_for, resolve
from ._hyper import DEFAULTS, STOCHASTIC, make_hyper, max_norm_geometry

__all__ = ["sgd_step_", "sgd_step_multi_", "penalty"]


def _as_list(name: str, value) -> list:
    if isinstance(value, (list, tuple)):
        return list(value)
    raise type_error(name, "a list or tuple of arrays", type(value).__name__)


class Half:
    """The 16-bit options of a step: float32 master copies (a list with an array or None per
    parameter, or None) and stochastic rounding (with the generator its words come from)."""

    def __init__(self, masters=None, stochastic_rounding=False, generator=None, names=("master_params", "stochastic_rounding")):
        if not isinstance(stochastic_rounding, (bool, np.bool_)):
            raise type_error(names[1], "True or False", stochastic_rounding)
        self.masters = masters
        self.sr = bool(stochastic_rounding)
        self.generator = resolve(generator) if self.sr else None
        self.names = names
        self.strict = True   # stochastic rounding of a float32/float64 parameter is an error (else: not rounded)

    @property
    def plain(self) -> bool:
        return self.masters is None and not self.sr


_PLAIN = Half()


def _check_master(pr, m, name, pi):
    """The float32 master copy of 16-bit parameter pr, or an error naming both."""
    if not _dtypes.is_half(pr.dtype):
        raise TypeError(f"{name}: a float32 master copy is only for bfloat16 or float16 parameters, "
                        f"got one for {pi} of dtype {pr.dtype}")
    mr = _arrays.inspect(m, name, writeable=True, dtypes=(_dtypes.F32,))
    _arrays.same_place(pr, mr, name)
    if mr.shape != pr.shape:
        raise value_error(name, f"the shape of {pi} {pr.shape}", mr.shape)
    return mr


def _check_tensors(params, grads, bufs, hyper, names, half=_PLAIN):
    """Inspect every tensor; returns (param refs, grad refs, buf refs or None, geometries, master
    refs or None).

    16-bit parameters take gradients of their own dtype and a float32 momentum buffer (their
    arithmetic type); any other combination is a TypeError naming both arrays."""
    pn, gn, bn = names[:3]
    mn = half.names[0]
    masters = half.masters
    if masters is not None and len(masters) != len(params):
        raise value_error(mn, f"{len(params)} arrays or None entries (one per parameter)", f"{len(masters)}")
    if len(grads) != len(params):
        raise value_error(gn, f"{len(params)} gradients (one per parameter)", f"{len(grads)}")
    if bufs is not None and len(bufs) != len(params):
        raise value_error(bn, f"{len(params)} buffers or None entries (one per parameter)", f"{len(bufs)}")
    prefs, grefs, brefs, geoms, mrefs = [], [], [], [], []
    written, read = [], []   # parameters, buffers and masters are updated; gradients only read
    labels = names[3] if isinstance(names[3], list) else range(len(params))
    for i, (p, g) in enumerate(zip(params, grads)):
        k = labels[i]
        pi, gi, bi = (f"{pn}[{k}]", f"{gn}[{k}]", f"{bn}[{k}]") if names[3] is not False else (pn, gn, bn)
        mi = f"{mn}[{k}]" if names[3] is not False else mn
        floats = _dtypes.all_floats()
        pr = _arrays.inspect(p, pi, writeable=True, dtypes=floats)
        gr = _arrays.inspect(g, gi, dtypes=floats)
        if gr.dtype != pr.dtype:
            raise type_error(gi, f"the dtype of {pi} ({pr.dtype})", f"dtype {gr.dtype}")
        if half.sr and half.strict and not _dtypes.is_half(pr.dtype):
            raise type_error(pi, f"bfloat16 or float16 with {half.names[1]}=True", f"dtype {pr.dtype}")
        _arrays.same_place(pr, gr, gi)
        if gr.shape != pr.shape:
            raise value_error(gi, f"the shape of {pi} {pr.shape}", gr.shape)
        if prefs and not prefs[0].same_place(pr):
            raise value_error(pi, f"an array on {prefs[0].device}:{prefs[0].device_id} like {pn}[0]",
                              f"{pr.device}:{pr.device_id}")
        br = None
        b = None if bufs is None else bufs[i]
        if b is not None:
            bdt = _dtypes.compute(pr.dtype)
            br = _arrays.inspect(b, bi, writeable=True, dtypes=_dtypes.all_floats())
            if br.dtype != bdt:
                what = f"float32 (the arithmetic type of {pi}, which is {pr.dtype})" if bdt != pr.dtype else f"the dtype of {pi} ({pr.dtype})"
                raise type_error(bi, what, f"dtype {br.dtype}")
            _arrays.same_place(pr, br, bi)
            if br.shape != pr.shape:
                raise value_error(bi, f"the shape of {pi} {pr.shape}", br.shape)
        m = None if masters is None else masters[i]
        mr = None if m is None else _check_master(pr, m, mi, pi)
        if mr is not None and half.sr:
            raise value_error(half.names[1], f"False with a master copy ({mi}: the 16-bit parameters are the "
                              "master rounded to nearest even)", True)
        written += [(pr, pi), (br, bi), (mr, mi)]
        read.append((gr, gi))
        geoms.append(max_norm_geometry(pr.shape, hyper, pi))
        prefs.append(pr)
        grefs.append(gr)
        brefs.append(br)
        mrefs.append(mr)
    _arrays.refuse_overlap(*written, read=read)
    return prefs, grefs, brefs, geoms, mrefs


_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


_BUFFER_DTYPES = {_F32: _F32, _F64: _F64, _dtypes.F16: _F32}


def _buffer_dtypes() -> dict:
    """Parameter dtype -> its momentum buffer's dtype (its arithmetic type), for every float
    dtype a NumPy array can have here (bfloat16 once ml_dtypes is loaded)."""
    if len(_BUFFER_DTYPES) == 3:
        bf = _dtypes._loaded_bfloat16()
        if bf is not None:
            _BUFFER_DTYPES[bf] = _F32
    return _BUFFER_DTYPES


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
    buffer_dtypes = _buffer_dtypes()
    arrays = []
    for i, p in enumerate(params):
        g = grads[i]
        if type(p) is not nd or type(g) is not nd:
            return None
        dt = p.dtype
        bdt = buffer_dtypes.get(dt)
        if bdt is None or g.dtype != dt or g.shape != p.shape:
            return None
        pf, gf = p.flags, g.flags
        if not (pf.c_contiguous and pf.writeable and gf.c_contiguous):
            return None
        arrays.append(p)
        b = None if bufs is None else bufs[i]
        if b is not None:
            if type(b) is not nd or b.dtype != bdt or b.shape != p.shape:
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
                    out_bufs[i] = np.empty(p.shape, dtype=_dtypes.compute(p.dtype))
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


def make_plan(params, grads, bufs, hyper, names, fresh=False, half=_PLAIN):
    """A validated step (nothing written yet): the cheap path when it applies, else the full one."""
    fresh = _fresh_flags(fresh, bufs, len(params), "fresh_buffers")
    checked = _fast_numpy_plan(params, grads, bufs, hyper) if half.plain else None
    if checked is not None:
        return _FastPlan(checked, hyper, fresh)
    return _Plan(params, grads, bufs, hyper, names, fresh, half)


class _Plan:
    """A validated step, ready to run: nothing has been written yet."""

    def __init__(self, params, grads, bufs, hyper, names, fresh, half=_PLAIN):
        prefs, grefs, brefs, geoms, mrefs = _check_tensors(params, grads, bufs, hyper, names, half)
        self.hyper, self.fresh, self.half, self.mrefs = hyper, fresh, half, mrefs
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
                    out_bufs[i], brefs[i] = _arrays.empty_like_place(pr.obj, pr.shape, _dtypes.compute(pr.dtype))
                    firsts[i] = True
        extra = {}
        if any(m is not None for m in self.mrefs):
            extra["masters"] = [None if m is None else m.target for m in self.mrefs]
        if self.half.sr:
            # Each tensor's words are the `bits` draw (4 per counter block) from its own offset;
            # taken from the generator only now, after every check passed.
            blocks = [blocks_for(pr.size, 4) if _dtypes.is_half(pr.dtype) else 0 for pr in prefs]
            start = self.half.generator.reserve(sum(blocks))
            offsets = []
            for b in blocks:
                offsets.append(start)
                start += b
            hyper = dataclasses.replace(hyper, flags=hyper.flags | STOCHASTIC)
            extra.update(sr_offsets=offsets, seed=self.half.generator.seed)
        self.backend.sgd_step_multi(
            [r.target for r in prefs], [r.target for r in self.grefs],
            [r.target if (r is not None and hyper.uses_momentum) else None for r in brefs],
            firsts, self.geoms, hyper, **extra)
        return out_bufs


def sgd_step_(param, grad, momentum_buf=None, lr=DEFAULTS["lr"], momentum=DEFAULTS["momentum"],
              dampening=0.0, nesterov=False, weight_decay=0.0, decoupled_weight_decay=0.0, l1=0.0,
              l1_mode="proximal", max_norm=None, max_norm_axis=0, maximize=False, *, master_param=None,
              stochastic_rounding=False, generator=None):
    """One penalized SGD step on ``param`` in place; returns the momentum buffer.

    ``momentum_buf=None`` with ``momentum > 0`` starts a new buffer (equal to the step's
    gradient, as torch.optim.SGD does) and returns it; with ``momentum == 0`` no buffer is read
    or written and the given one (or None) is returned unchanged.

    bfloat16 / float16 ``param`` (docs/sgd.md, "16-bit parameters"): ``grad`` of the same dtype,
    a float32 momentum buffer, float32 arithmetic. ``master_param``: a float32 copy the step
    updates instead, ``param`` then receives it rounded to nearest even. ``stochastic_rounding``:
    the new 16-bit value is rounded stochastically with words drawn from ``generator``.
    """
    hyper = make_hyper(**dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                             weight_decay=weight_decay, decoupled_weight_decay=decoupled_weight_decay,
                             l1=l1, l1_mode=l1_mode, max_norm=max_norm, max_norm_axis=max_norm_axis,
                             maximize=maximize))
    half = Half(None if master_param is None else [master_param], stochastic_rounding, generator,
                ("master_param", "stochastic_rounding"))
    (buf,) = make_plan([param], [grad], [momentum_buf], hyper, ("param", "grad", "momentum_buf", False),
                       half=half).run()
    return buf


def sgd_step_multi_(params, grads, momentum_bufs=None, lr=DEFAULTS["lr"], momentum=DEFAULTS["momentum"],
                    dampening=0.0, nesterov=False, weight_decay=0.0, decoupled_weight_decay=0.0, l1=0.0,
                    l1_mode="proximal", max_norm=None, max_norm_axis=0, maximize=False, *, fresh_buffers=False,
                    master_params=None, stochastic_rounding=False, generator=None, _zero_lr=False):
    """``sgd_step_`` on every tensor of a list at once (one parallel region / one launch).

    Bit for bit the same as a loop of ``sgd_step_``. ``momentum_bufs`` is None or a list with an
    array or None per parameter; returns the list of buffers. All tensors are checked before
    any is written.

    ``fresh_buffers`` (a bool, or one per parameter): the given buffer holds no history yet and
    is started as a None buffer would be (written with the step's gradient, never read), for
    callers that allocate their buffers themselves (regcore.torch.optim.SGD).

    ``master_params``, ``stochastic_rounding``, ``generator``: as in ``sgd_step_`` (a list with a
    float32 array or None per parameter); the tensors draw their random words in list order.

    ``_zero_lr``: admit lr = 0 (make_hyper's ``zero_lr``; regcore.torch's SGD, torch's rule).
    """
    hyper = make_hyper(**dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                             weight_decay=weight_decay, decoupled_weight_decay=decoupled_weight_decay,
                             l1=l1, l1_mode=l1_mode, max_norm=max_norm, max_norm_axis=max_norm_axis,
                             maximize=maximize), zero_lr=_zero_lr)
    params = _as_list("params", params)
    grads = _as_list("grads", grads)
    bufs = None if momentum_bufs is None else _as_list("momentum_bufs", momentum_bufs)
    masters = None if master_params is None else _as_list("master_params", master_params)
    half = Half(masters, stochastic_rounding, generator)
    return make_plan(params, grads, bufs, hyper, ("params", "grads", "momentum_bufs", True), fresh_buffers,
                     half).run()


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
        ref = _arrays.inspect(x, "params" if single else f"params[{i}]", dtypes=_dtypes.all_floats())
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


