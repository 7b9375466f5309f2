"""Per-channel glue of the normalization family: layouts, statistics merge, coefficients.

Everything here is O(C) work on small float64 vectors; the O(N*C*S) passes live in the backends.
The per-channel arithmetic (coefficients, running_update, grad_coefficients) is what the numpy
backend and CUDA data run as the backends' bn_coefficients / bn_running_update /
bn_grad_coefficients; the native CPU backend has a C++ twin of the same operations in the same
order (csrc/cpu/batchnorm_channels.h: the same bits, tested), because ~20 NumPy calls cost more
than the kernels for small batches. Group norm's backward arithmetic (group_grad_coefficients,
the backends' gn_grad_coefficients) has its twin in csrc/cpu/groupnorm_channels.h. Each
formula is written once against an Array API namespace ``xp`` taken from its arguments:
NumPy for CPU data (the native and numpy backends), the caller's own library (CuPy, PyTorch) on
the device for CUDA data, so the per-channel glue never copies anything to the host. Only
+, -, *, /, sqrt and casts, elementwise (and group_grad_coefficients' sums over the channels of
a group and over samples, in the namespace's own order): the same bits in every namespace whose float64 sqrt is
correctly rounded as IEEE requires (NumPy, CUDA's sqrt; PyTorch's CPU sqrt is not always: about
1% of values come out 1 ulp off, measured with torch 2.13).
The kernels see every layout as the (N, C, S) view (docs/batchnorm.md):

* channel-first (axis=1): N = shape[0], C = shape[1], S = prod(shape[2:]);
* channels-last (axis=-1): N = prod(shape[:-1]), C = shape[-1], S = 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import _arrays, _dtypes, _validate
from ._errors import type_error, value_error

F64 = np.dtype(np.float64)
F32 = np.dtype(np.float32)
# Data dtypes of the normalization family: float32, float64, and the 16-bit formats (float32
# math; bfloat16 with ml_dtypes). docs/precision.md lists the parameter dtypes each one takes.
DATA_DTYPES = _dtypes.all_floats()


def xp_of(a):
    """The Array API namespace of a per-channel vector (numpy itself for NumPy arrays)."""
    return _arrays.namespace_of(a)


def xdtype(xp, dtype):
    """A NumPy dtype as the namespace's own dtype object."""
    return np.dtype(dtype) if xp is np else getattr(xp, np.dtype(dtype).name)


def cast(a, dtype, xp=None):
    """A copy of ``a`` in ``dtype`` (round to nearest, once), in a's namespace and on its device.
    A NumPy uint16 array is bfloat16 data as the kernels see it (regcore/_dtypes.py); a 16-bit
    ``dtype`` is rounded to once from the values, never through float32 twice."""
    if isinstance(a, np.ndarray):   # the per-call glue's common case, without the namespace hops
        if a.dtype.itemsize != 2 and (dtype is F64 or dtype is F32):   # no 16-bit either side
            return a.astype(dtype)
        if a.dtype == np.uint16:
            a = a.view(_dtypes.require_bfloat16())
        d = np.dtype(dtype)
        if _dtypes.is_half(d) and a.dtype != d:
            return _dtypes.round_array(d, a.astype(F64))
        return a.astype(d)
    xp = xp_of(a) if xp is None else xp
    return xp.astype(a, xdtype(xp, dtype), copy=True)


def in_namespace(a, xp):
    """``a`` as an array of namespace ``xp`` (a zero-copy DLPack view when another library made
    it, e.g. CuPy statistics with PyTorch data on the same device)."""
    return a if xp_of(a) is xp else xp.from_dlpack(a)


def host_or_library(ref):
    """What the glue computes on for an ArrayRef: the NumPy view for CPU data (whatever library
    it came from), the caller's own array for CUDA data (the device view has no arithmetic)."""
    return ref.target if ref.device == "cpu" else ref.obj


def bn_view(shape: tuple, axis) -> tuple:
    """(N, C, S, axis) of the (N, C, S) view for a batch-norm channel axis (1 or -1)."""
    ndim = len(shape)
    if ndim < 2:
        raise value_error("x", "an array with at least 2 dimensions (N, C, ...)", f"shape {shape}")
    a = _validate.integer("axis", axis)
    if not -ndim <= a < ndim:
        raise value_error("axis", f"an axis in [-{ndim}, {ndim})", axis)
    a %= ndim
    if a == 1 or a == ndim - 1:
        return (*checked_bn_view(shape, a), a)
    raise value_error("axis", "1 (channel-first) or -1 (channels-last)", axis)


def checked_bn_view(shape: tuple, axis: int) -> tuple:
    """(N, C, S) of the (N, C, S) view for an axis bn_view has accepted (the trusted entry
    points: no checks)."""
    if axis % len(shape) == 1:
        return shape[0], shape[1], math.prod(shape[2:])
    return math.prod(shape[:-1]), shape[-1], 1


def chan_merge(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """Chan et al.'s merge of (count, mean, M2), per channel, in the operation order of
    csrc/core/batchnorm.h (chan_merge). Counts may differ between the parts."""
    xp = xp_of(n_a)
    n = n_a + n_b
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):   # 0/0 for two empty parts, masked below
        d = mean_b - mean_a
        fb = n_b / n
        # a part with an inf has an infinite mean: a + (b - a) * fb would be inf - inf = NaN, the
        # mean of all the values is that inf, so non-finite means are added (as chan_merge does)
        mean = xp.where(xp.isfinite(mean_a) & xp.isfinite(mean_b), mean_a + d * fb, mean_a + mean_b)
        m2 = (m2_a + m2_b) + (d * d) * (n_a * fb)
    mean = xp.where(n_b == 0, mean_a, xp.where(n_a == 0, mean_b, mean))
    m2 = xp.where(n_b == 0, m2_a, xp.where(n_a == 0, m2_b, m2))
    return n, mean, m2


def merge_parts(parts):
    """Merge a (P, 3, C) float64 stack of (count, mean, M2) rows, in order p = 0, 1, ...
    (a new (3, C) array; nothing is written into ``parts``)."""
    n, mean, m2 = parts[0, 0, ...], parts[0, 1, ...], parts[0, 2, ...]
    for p in range(1, parts.shape[0]):
        n, mean, m2 = chan_merge(n, mean, m2, parts[p, 0, ...], parts[p, 1, ...], parts[p, 2, ...])
    return xp_of(parts).stack([n, mean, m2])


def split_mean(mean, dtype: np.dtype):
    """mean = mhi + mlo in the compute type of the data (core/batchnorm.h explains why two
    numbers; ``dtype`` is that compute type: float32 for 16-bit data)."""
    mhi = cast(mean, dtype)
    with np.errstate(invalid="ignore", over="ignore"):   # a NaN/inf channel: NaN, no warning
        mlo = cast(mean - cast(mhi, F64), dtype)
    return mhi, mlo


@dataclass
class BatchNormSaved:
    """What the forward pass leaves for the backward pass (per rank in a distributed setting).

    mean, var (biased), rstd, count describe the statistics the forward normalized with (the
    merged statistics of all ranks, or the running statistics in inference); mhi, mlo, scale,
    shift are the exact coefficients of the forward kernel, so the backward recomputes the fused
    ReLU's mask bit for bit.
    """

    shape: tuple
    dtype: np.dtype
    axis: int
    view: tuple            # (N, C, S)
    mean: np.ndarray       # float64 (C,)
    var: np.ndarray        # float64 (C,), biased
    rstd: np.ndarray       # float64 (C,), 1/sqrt(var + eps)
    count: float           # values per channel behind mean/var (all ranks)
    eps: float
    batch_stats: bool      # normalized with batch statistics (gradient flows through them)
    activation: str | None
    has_gamma: bool
    has_beta: bool
    mhi: np.ndarray
    mlo: np.ndarray
    scale: np.ndarray
    shift: np.ndarray
    place: tuple = field(default=("cpu", 0))   # (device, device_id) of x: the backward checks it
    param_dtype: np.dtype | None = None        # dtype of gamma / beta (dgamma, dbeta); None: x's

    @property
    def relu(self) -> bool:
        return self.activation == "relu"


def coefficients(mean, var, gamma, beta, eps, dtype):
    """(rstd, mhi, mlo, scale, shift) for y = ((x - mhi) - mlo) * scale + shift; ``dtype`` is the
    data's, the coefficients are of its compute type (float32 for 16-bit data)."""
    xp = xp_of(mean)
    dtype = _dtypes.compute(np.dtype(dtype))
    rstd = 1.0 / xp.sqrt(var + eps)
    g = xp.ones_like(rstd) if gamma is None else cast(in_namespace(gamma, xp), F64, xp)
    mhi, mlo = split_mean(mean, dtype)
    scale = cast(g * rstd, dtype, xp)
    shift = xp.zeros_like(mhi) if beta is None else cast(in_namespace(beta, xp), dtype, xp)
    return rstd, mhi, mlo, scale, shift


def grad_coefficients(rstd, gamma, red, count: float, batch_stats: bool, dtype):
    """(ka, kb, kc) in the data type and (dgamma, dbeta) in float64, per channel, from the
    all-reduced (sum dy', sum dy'*xc) over ``count`` values per channel (``dtype``: the data's;
    ka, kb, kc are of its compute type)."""
    xp = xp_of(rstd)
    dtype = _dtypes.compute(np.dtype(dtype))
    red = in_namespace(red, xp)
    sdy, sdyx = red[0, ...], red[1, ...]
    g = xp.ones_like(rstd) if gamma is None else cast(in_namespace(gamma, xp), F64, xp)
    ka = g * rstd
    if batch_stats:
        kb = -ka * (rstd * rstd) * (sdyx / count)
        kc = -ka * (sdy / count)
    else:  # inference statistics are constants: dx = gamma * rstd * dy'
        kb = xp.zeros_like(ka)
        kc = xp.zeros_like(ka)
    return cast(ka, dtype, xp), cast(kb, dtype, xp), cast(kc, dtype, xp), sdyx * rstd, sdy


def layer_coefficients(mean, var, eps, dtype):
    """(rstd, mhi, mlo, rstd_t) of layer norm's per-row (mean, biased var): rstd in float64, the
    rest in the compute type ``dtype``, for y = ((x - mhi) - mlo) * rstd_t * gamma + beta."""
    rstd = 1.0 / xp_of(var).sqrt(var + eps)
    mhi, mlo = split_mean(mean, dtype)
    return rstd, mhi, mlo, cast(rstd, dtype)


def layer_grad_coefficients(rstd, row, L: int, dtype):
    """(kb, kc) of layer norm's dx, per row, in the compute type ``dtype``, from the per-row
    (sum g*dy, sum g*dy*xc) sums ``row`` (shape (R, 2)) over rows of L values."""
    kb = cast(-(rstd * rstd * rstd) * (row[:, 1] / L), dtype)
    kc = cast(-rstd * (row[:, 0] / L), dtype)
    return kb, kc


def spread(v, src_shape, dst_shape):
    """v reshaped to src_shape, broadcast to dst_shape, flattened (np.repeat / np.tile in any
    namespace): per-group or per-channel values made per (n, c). Written into a new array: a
    reshaped broadcast can be a zero-stride view, and the kernels take contiguous arrays."""
    xp = xp_of(v)
    if xp is np:
        out = np.empty(dst_shape, v.dtype)
    else:
        import array_api_compat

        out = xp.empty(dst_shape, dtype=v.dtype, device=array_api_compat.device(v))
    out[...] = xp.reshape(v, src_shape)
    return xp.reshape(out, (math.prod(dst_shape),))


def group_rows(v, N: int, C: int, G: int, batch_stats: bool):
    """Group / instance norm's statistics made per (n, c), N*C values: those of each (sample,
    group) (batch_stats: N*G values) or of each channel (C values: running statistics)."""
    if batch_stats:
        return spread(v, (N, G, 1), (N, G, C // G if G else 0))   # G = C = 0: an instance norm of no channels
    return spread(v, (1, C), (N, C))


def group_grad_coefficients(rstd, gamma, red, N: int, C: int, G: int, count: float, batch_stats: bool, dtype):
    """Group (and instance) norm's backward arithmetic: (ka, kb, kc) per (n, c), N*C values of the
    compute type of ``dtype`` (the data's), and (dgamma, dbeta) per channel in float64, from the
    sums ``red`` (shape (2, N*C): sum dy, sum dy*xc) of bn_grad_reduce on the (1, N*C, S) view.
    ``rstd``: the statistics' float64 rstd, per (n, g) over ``count`` = (C/G)*S values each
    (batch_stats), or per channel (running statistics: constants, kb = kc = 0). The native CPU
    backend has its C++ twin (csrc/cpu/groupnorm_channels.h: the sums over a group's channels and
    over samples in index order, which NumPy's sum follows for groups of fewer than 8 channels)."""
    xp = xp_of(rstd)
    dtype = _dtypes.compute(np.dtype(dtype))
    red = in_namespace(red, xp)
    Cg = C // G
    sdy, sdyx = xp.reshape(red[0, ...], (N, C)), xp.reshape(red[1, ...], (N, C))
    rstd_nc = xp.reshape(group_rows(rstd, N, C, G, batch_stats), (N, C))
    # gamma * a; without gamma a itself (1 * a, the same bits)
    g_row = None if gamma is None else xp.reshape(cast(in_namespace(gamma, xp), F64, xp), (1, C))
    times_g = (lambda a: a) if g_row is None else (lambda a: g_row * a)
    ka = xp.reshape(times_g(rstd_nc), (N * C,))
    if batch_stats:
        # d xhat = gamma * dy; the group sums of gamma*dy and gamma*dy*xc give the two
        # per-(n, g) constants of dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat*xhat)).
        a1 = xp.sum(xp.reshape(times_g(sdy), (N, G, Cg)), axis=2)
        a2 = xp.sum(xp.reshape(times_g(sdyx), (N, G, Cg)), axis=2)
        rs = xp.reshape(rstd, (N, G))
        kb = group_rows(-(rs * rs * rs) * (a2 / count), N, C, G, True)
        kc = group_rows(-rs * (a1 / count), N, C, G, True)
    else:   # statistics are constants: dx = gamma * rstd * dy
        kb = kc = xp.zeros_like(ka)
    return (cast(ka, dtype, xp), cast(kb, dtype, xp), cast(kc, dtype, xp), xp.sum(rstd_nc * sdyx, axis=0),
            xp.sum(sdy, axis=0))


def running_update(run, batch, factor, dtype):
    """run = (1 - f) * run + f * batch in float64, rounded once to ``dtype`` (run's own dtype)
    and stored IN PLACE. ``run`` is the array to compute on (host_or_library of the running
    statistic: a uint16 view for bfloat16 on the CPU, whose bits are written)."""
    xp = xp_of(batch)
    new = cast((1.0 - factor) * cast(in_namespace(run, xp), F64, xp) + factor * batch, dtype, xp)
    if isinstance(run, np.ndarray) and run.dtype == np.uint16:
        run[...] = new.view(np.uint16)
        return
    run[...] = in_namespace(new, xp_of(run))


def check_backward_arrays(saved, dy, x):
    """(dy_ref, x_ref) of a backward call, checked against the saved state of its forward pass
    (``saved.dtype``, ``.shape`` and ``.place``): the same dtype, shape and device."""
    x_ref = _arrays.inspect(x, "x", dtypes=DATA_DTYPES)
    dy_ref = _arrays.inspect(dy, "dy", dtypes=DATA_DTYPES)
    for ref, name in ((x_ref, "x"), (dy_ref, "dy")):
        if ref.dtype != saved.dtype:
            raise type_error(name, f"dtype {saved.dtype} (as in the forward pass)", f"dtype {ref.dtype}")
        if ref.shape != saved.shape:
            raise value_error(name, f"shape {saved.shape} (as in the forward pass)", f"shape {ref.shape}")
    _arrays.same_place(x_ref, dy_ref, "dy")
    if (x_ref.device, x_ref.device_id) != tuple(saved.place):
        raise value_error("x", f"an array on {saved.place[0]}:{saved.place[1]} (as in the forward pass)",
                          f"{x_ref.device}:{x_ref.device_id}")
    _check_saved_stats(saved, x_ref)
    return dy_ref, x_ref


def _saved_length(saved) -> int:
    """Statistics per normalized set: rows (layer norm, view (R, L)), channels (batch norm,
    (N, C, S)), (sample, group) pairs or, in instance-norm inference, channels ((N, C, G, S))."""
    v = saved.view
    if len(v) == 2:
        return v[0]
    if len(v) == 3:
        return v[1]
    return v[0] * v[2] if saved.batch_stats else v[2]


def _check_saved_stats(saved, x_ref) -> None:
    """saved's statistics are fields a caller can reassign: a tampered one is refused naming it,
    not met later as a broadcast error inside the backward arithmetic."""
    n = _saved_length(saved)
    for attr in ("mean", "var", "rstd"):
        name = f"saved.{attr}"
        value = getattr(saved, attr)
        # the backward's coefficient code takes the statistics as they are, with the forward's
        # other arrays (NumPy for CPU data, the caller's library for CUDA data): another library's
        # array (a torch CPU tensor, which inspect accepts as a view) met NumPy's or the native
        # module's unnamed errors there, so it is refused here by name
        kind = type(saved.mhi)
        if type(value) is not kind:
            raise type_error(name, f"a float64 {kind.__name__} (as the forward pass left it)", type(value).__name__)
        ref = _arrays.inspect(value, name, dtypes=(F64,))
        _arrays.same_place(x_ref, ref, name)
        if ref.shape != (n,):
            raise value_error(name, f"shape ({n},) float64 (as the forward pass left it)", f"shape {ref.shape}")


def check_gamma_given_as_in_forward(gamma, saved):
    """A backward takes gamma exactly when its forward had one (``saved.has_gamma``)."""
    if gamma is None and saved.has_gamma:
        raise value_error("gamma", "the gamma of the forward pass (it had one)", None)
    if gamma is not None and not saved.has_gamma:
        raise value_error("gamma", "None (the forward pass had no gamma)", "an array")


def param_dtypes(x_dtype) -> tuple:
    """The parameter dtypes data of ``x_dtype`` takes: its own, and float32 for 16-bit data
    (PyTorch's "mixed" batch norm: bfloat16/float16 activations, float32 parameters)."""
    x_dtype = np.dtype(x_dtype)
    return (x_dtype, F32) if _dtypes.is_half(x_dtype) else (x_dtype,)


def check_param_dtype(ref, name: str, x_ref, first=None):
    """A parameter's dtype against x's (and against ``first``, (name, dtype) of the call's first
    parameter: gamma, beta and running statistics share one dtype). TypeError naming both."""
    allowed = param_dtypes(x_ref.dtype)
    if ref.dtype not in allowed:
        want = " or ".join(str(d) for d in allowed)
        raise type_error(name, f"dtype {want} for x of dtype {x_ref.dtype}", f"dtype {ref.dtype}")
    if first is not None and ref.dtype != first[1]:
        raise type_error(name, f"dtype {first[1]} (the dtype of {first[0]}: parameters share one dtype)",
                         f"dtype {ref.dtype}")


def shared_param_dtype(x_ref, *named_refs):
    """The one dtype of the given parameters ((name, ref) pairs, None refs skipped), checked
    with check_param_dtype; x's dtype when none is given."""
    first = None
    for name, ref in named_refs:
        if ref is None:
            continue
        check_param_dtype(ref, name, x_ref, first)
        if first is None:
            first = (name, ref.dtype)
    return x_ref.dtype if first is None else first[1]


def check_param(ref, name: str, x_ref, C: int):
    """gamma/beta/running stats: a dtype x takes (param_dtypes), x's place and length C."""
    check_param_dtype(ref, name, x_ref)
    if ref.shape != (C,):
        raise value_error(name, f"shape ({C},) (one value per channel)", f"shape {ref.shape}")
    if not ref.same_place(x_ref):
        raise value_error(name, f"an array on {x_ref.device}:{x_ref.device_id} like x",
                          f"{ref.device}:{ref.device_id}")
