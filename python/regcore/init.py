"""Weight initialization: every sampler in an in-place form (``name_(x, ...)``) and an allocating
form (``name(shape, ..., dtype=, generator=, like=)``), float32 and float64 (and bfloat16 /
float16: docs/precision.md), driven by the counter-based generator, so the same seed gives the
same weights on every backend.

Conventions follow PyTorch's ``torch.nn.init`` (gains, fans, bounds); docs/init.md lists each
formula and where regcore differs. Fan-based initializers take ``layout="channels_first"``
(weights shaped (out, in, *kernel), PyTorch) or ``"channels_last"`` ((*kernel, in, out), as in
Flax/TensorFlow).

Every argument is validated before anything is written or any generator range is reserved.
"""
from __future__ import annotations

import math

import numpy as np

from . import _arrays, _dtypes, _truncnorm, _validate
from ._backend import backend_for, host_backend
from ._errors import value_error
from .generator import blocks_for, resolve
from .random import normal_params, uniform_bounds, uniform_params

__all__ = [
    "calculate_gain", "fan_in_and_fan_out", "trunc_normal_parent_std",
    "zeros", "zeros_", "ones", "ones_", "constant", "constant_",
    "uniform", "uniform_", "normal", "normal_", "trunc_normal", "trunc_normal_",
    "xavier_uniform", "xavier_uniform_", "xavier_normal", "xavier_normal_",
    "kaiming_uniform", "kaiming_uniform_", "kaiming_normal", "kaiming_normal_",
    "lecun_uniform", "lecun_uniform_", "lecun_normal", "lecun_normal_",
    "orthogonal", "orthogonal_", "sparse", "sparse_",
]

LAYOUTS = ("channels_first", "channels_last")
_LINEAR_GAIN_ONE = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                    "conv_transpose2d", "conv_transpose3d", "sigmoid")
NONLINEARITIES = _LINEAR_GAIN_ONE + ("tanh", "relu", "leaky_relu", "selu")


# --- gains and fans

def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table): 1 for linear/conv/sigmoid,
    5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for leaky_relu (slope = param,
    default 0.01), 3/4 for selu."""
    return _nonlinearity_gain(nonlinearity, param, "param")


def _nonlinearity_gain(nonlinearity, param, name):
    """calculate_gain with the slope named as the caller names it (kaiming's ``a``). As in torch,
    the slope is read (and checked) only for leaky_relu, and None means 0.01."""
    _validate.choice("nonlinearity", nonlinearity, NONLINEARITIES)
    if nonlinearity in _LINEAR_GAIN_ONE:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 0.75
    slope = 0.01 if param is None else _validate.real(name, param)
    return math.sqrt(2.0 / (1.0 + slope * slope))


def _fans(shape: tuple, layout: str, name: str):
    _validate.choice("layout", layout, LAYOUTS)
    if len(shape) < 2:
        raise value_error(name, "a weight with at least 2 dimensions for fan-based init", f"shape {shape}")
    if layout == "channels_first":
        n_out, n_in, kernel = shape[0], shape[1], shape[2:]
    else:
        n_out, n_in, kernel = shape[-1], shape[-2], shape[:-2]
    receptive = math.prod(kernel)
    return n_in * receptive, n_out * receptive


def fan_in_and_fan_out(shape, layout: str = "channels_first"):
    """(fan_in, fan_out) of a weight: (out, in, *kernel) for channels_first (linear and 1-D/2-D/
    3-D convolutions as PyTorch stores them), (*kernel, in, out) for channels_last.
    fan_in = in * prod(kernel), fan_out = out * prod(kernel)."""
    return _fans(_validate.shape("shape", shape), layout, "shape")


def _fan(shape, layout, mode, name):
    fan_in, fan_out = _fans(shape, layout, name)
    return fan_in if mode == "fan_in" else fan_out


def trunc_normal_parent_std(std, mean=0.0, a=-2.0, b=2.0) -> float:
    """The parent std to pass to ``trunc_normal_`` so that the RESULT has standard deviation std."""
    mean, std, a, b = _trunc_args(mean, std, a, b)
    return _truncnorm.parent_std(std, mean, a, b)


# --- plans: validate everything for (shape, dtype), then run on an array ref with a generator

def _sizeof(shape):
    return math.prod(shape)


def _uniform_plan(dtype, low, high, names=("a", "b")):
    low, high = uniform_bounds(dtype, low, high, names)
    if low <= high and _dtypes.round_scalar(dtype, low) == _dtypes.round_scalar(dtype, high):
        # U[a, a) is empty; torch.nn.init fills with a (also where a < b round to one value of
        # the dtype). The draw's range is still consumed, so later draws do not depend on it.
        return _constant_plan(dtype, low, consume=True)
    lo, span, hi = uniform_params(dtype, low, high, names)

    def run(ref, g):
        offset = g.reserve(blocks_for(ref.size, ref.dtype.itemsize))
        backend_for(ref).random_uniform(ref.target, g.seed, offset, lo, span, hi)
    return run


def _normal_plan(dtype, mean, std):
    m, s = normal_params(dtype, mean, std)

    def run(ref, g):
        offset = g.reserve(blocks_for(ref.size, ref.dtype.itemsize))
        backend_for(ref).random_normal(ref.target, g.seed, offset, m, s)
    return run


def _constant_plan(dtype, value, consume=False):
    v = _validate.real("value", value, finite=False)
    with np.errstate(over="ignore"):
        v = _dtypes.round_scalar(dtype, v)

    def run(ref, g):
        if consume and g is not None:
            g.reserve(blocks_for(ref.size, ref.dtype.itemsize))
        _fill(ref, v)
    return run


def _trunc_args(mean, std, a, b):
    mean = _validate.real("mean", mean)
    std = _validate.nonnegative("std", std)
    a = _validate.real("a", a, finite=False)
    b = _validate.real("b", b, finite=False)
    if not a < b:
        raise value_error("b", f"a value > a={a}", b)
    return mean, std, a, b


def _trunc_normal_plan(dtype, mean, std, a, b, std_is):
    mean, std, a, b = _trunc_args(mean, std, a, b)
    _validate.choice("std_is", std_is, ("parent", "result"))
    if std_is == "result":
        std = _truncnorm.parent_std(std, mean, a, b)
    params = _truncnorm.kernel_params(dtype, mean, std, a, b)

    def run(ref, g):
        offset = g.reserve((ref.size + 1) // 2)   # E = 2 for both dtypes
        backend_for(ref).init_trunc_normal(ref.target, g.seed, offset, *params)
    return run


def _gain(gain):
    return _validate.nonnegative("gain", gain)


def _xavier_std(shape, dtype, gain, layout, name):
    fan_in, fan_out = _fans(shape, layout, name)
    g = _gain(gain)
    std = g * math.sqrt(2.0 / (fan_in + fan_out)) if fan_in + fan_out > 0 else 0.0
    # the uniform form draws on [-sqrt(3) std, sqrt(3) std), whose width must be finite: blame
    # the gain the caller passed, not a std or bound derived from it
    if 2.0 * math.sqrt(3.0) * std > float(_dtypes.finfo(dtype).max):
        raise value_error("gain", f"a gain whose range (2 sqrt(3) std = {2.0 * math.sqrt(3.0) * std:.4g}) "
                          f"fits in {np.dtype(dtype)}", gain)
    return std


def _kaiming_std(shape, a, mode, nonlinearity, layout, name):
    _validate.choice("mode", mode, ("fan_in", "fan_out"))
    gain = _nonlinearity_gain(nonlinearity, a, "a")
    fan = _fan(shape, layout, mode, name)
    return gain / math.sqrt(fan) if fan > 0 else 0.0


def _lecun_std(shape, layout, name):
    fan = _fan(shape, layout, "fan_in", name)
    return 1.0 / math.sqrt(fan) if fan > 0 else 0.0


def _bounded(dtype, bound):
    """U(-bound, bound); a zero bound (gain 0, or a zero fan) gives zeros but consumes the stream
    range the uniform draw would have, so later draws do not depend on it."""
    if bound == 0.0:
        return _constant_plan(dtype, 0.0, consume=True)
    return _uniform_plan(dtype, -bound, bound)


# --- host-side samplers (orthogonal, sparse): computed in NumPy on the CPU, then written



def _fill(ref, value):
    if ref.device == "cpu":
        ref.target[...] = np.asarray(value, ref.dtype).view(ref.target.dtype)   # bfloat16: its bits
    else:
        # a Python float holds any value of the four dtypes exactly (and -0.0): torch's item
        # assignment refuses NumPy scalars other than float64 ("can't assign a numpy.float32")
        ref.obj[...] = float(value)


def _write_host(ref, arr: np.ndarray):
    """Copy a host array (ref's shape and dtype) into the caller's array, on its device."""
    if ref.device == "cpu":
        np.copyto(ref.target, _dtypes.kernel_view(arr), casting="no")
    else:
        xp = _arrays.namespace_of(ref.obj)
        import array_api_compat

        ref.obj[...] = xp.asarray(arr, device=array_api_compat.device(ref.obj))


def _cf_shape(shape, layout):
    """The channels-first (out, in, *kernel) shape of a weight."""
    return tuple(shape) if layout == "channels_first" else (shape[-1], shape[-2], *shape[:-2])


def _to_layout(cf: np.ndarray, layout):
    return cf if layout == "channels_first" else np.moveaxis(cf, (0, 1), (-1, -2))


def _orthogonal_plan(shape, dtype, gain, layout, name):
    _fans(shape, layout, name)   # validates layout and ndim
    gain = _validate.real("gain", gain)
    cf = _cf_shape(shape, layout)

    def run(ref, g):
        n = ref.size
        if n == 0:
            return
        rows = cf[0]
        cols = n // rows
        offset = g.reserve(blocks_for(n, 8))
        flat = np.empty((rows, cols), np.float64)
        host_backend().random_normal(flat, g.seed, offset, np.float64(0.0), np.float64(1.0))
        # PyTorch's recipe: QR of the tall orientation, columns' signs fixed by diag(R) so the
        # result is Haar-distributed, transposed back when rows < cols.
        m = flat.T if rows < cols else flat
        q, r = np.linalg.qr(m)
        d = np.diagonal(r)
        q = q * np.where(d < 0, -1.0, 1.0)[None, :]
        if rows < cols:
            q = q.T
        w = _dtypes.round_array(ref.dtype, (q * gain).reshape(cf))
        _write_host(ref, np.ascontiguousarray(_to_layout(w, layout)))
    return run


def _sparse_plan(shape, dtype, k, std, layout, name):
    fan_in, _ = _fans(shape, layout, name)
    k = _validate.integer("k", k, lo=0, hi=fan_in)
    m, s = normal_params(dtype, 0.0, std)
    cf = _cf_shape(shape, layout)

    def run(ref, g):
        n = ref.size
        if n == 0:
            return
        rows = cf[0]
        host = host_backend()
        key_off = g.reserve(blocks_for(n, 4))
        val_off = g.reserve(blocks_for(n, ref.dtype.itemsize))
        keys = np.empty(n, np.uint32)
        host.random_bits(keys, g.seed, key_off)
        direct = ref.device == "cpu" and layout == "channels_first"
        w = ref.target.reshape(rows, n // rows) if direct else np.empty((rows, n // rows), ref.target.dtype)
        host.random_normal(w, g.seed, val_off, m, s)
        host.init_sparse_keep(w, keys, k)
        if not direct:
            _write_host(ref, np.ascontiguousarray(_to_layout(w.reshape(cf), layout)).view(ref.dtype))
    return run


# --- the two public forms of every sampler

def _inplace(x, make_plan, generator, needs_generator=True):
    ref = _arrays.inspect(x, "x", writeable=True, dtypes=_dtypes.all_floats())
    run = make_plan(ref.shape, ref.dtype, "x")
    g = resolve(generator) if needs_generator else None
    run(ref, g)
    return x


def _allocating(shape, dtype, like, make_plan, generator, needs_generator=True):
    shape = _validate.shape("shape", shape)
    dtype = _validate.float_dtype("dtype", dtype, half=True)
    _arrays.check_like(like)
    run = make_plan(shape, dtype, "shape")
    g = resolve(generator) if needs_generator else None
    out, ref = _arrays.empty_like_place(like, shape, dtype)
    run(ref, g)
    return out


def zeros_(x):
    """Fill x with 0."""
    return _inplace(x, lambda sh, dt, nm: _constant_plan(dt, 0.0), None, needs_generator=False)


def zeros(shape, *, dtype=np.float32, like=None):
    return _allocating(shape, dtype, like, lambda sh, dt, nm: _constant_plan(dt, 0.0), None, False)


def ones_(x):
    """Fill x with 1."""
    return _inplace(x, lambda sh, dt, nm: _constant_plan(dt, 1.0), None, needs_generator=False)


def ones(shape, *, dtype=np.float32, like=None):
    return _allocating(shape, dtype, like, lambda sh, dt, nm: _constant_plan(dt, 1.0), None, False)


def constant_(x, value):
    """Fill x with value (rounded to x's dtype)."""
    return _inplace(x, lambda sh, dt, nm: _constant_plan(dt, value), None, needs_generator=False)


def constant(shape, value, *, dtype=np.float32, like=None):
    return _allocating(shape, dtype, like, lambda sh, dt, nm: _constant_plan(dt, value), None, False)


def uniform_(x, a=0.0, b=1.0, *, generator=None):
    """U[a, b) (regcore.random.uniform's stream)."""
    return _inplace(x, lambda sh, dt, nm: _uniform_plan(dt, a, b), generator)


def uniform(shape, a=0.0, b=1.0, *, dtype=np.float32, generator=None, like=None):
    return _allocating(shape, dtype, like, lambda sh, dt, nm: _uniform_plan(dt, a, b), generator)


def normal_(x, mean=0.0, std=1.0, *, generator=None):
    """N(mean, std^2) (regcore.random.normal's stream)."""
    return _inplace(x, lambda sh, dt, nm: _normal_plan(dt, mean, std), generator)


def normal(shape, mean=0.0, std=1.0, *, dtype=np.float32, generator=None, like=None):
    return _allocating(shape, dtype, like, lambda sh, dt, nm: _normal_plan(dt, mean, std), generator)


def trunc_normal_(x, mean=0.0, std=1.0, a=-2.0, b=2.0, *, std_is="parent", generator=None):
    """N(mean, std^2) truncated to [a, b] (absolute bounds, as in PyTorch), by inverse-CDF
    sampling. ``std`` is the parent's std (PyTorch's convention); ``std_is="result"`` makes it
    the std of the truncated result (the parent std is solved for on the host)."""
    return _inplace(x, lambda sh, dt, nm: _trunc_normal_plan(dt, mean, std, a, b, std_is), generator)


def trunc_normal(shape, mean=0.0, std=1.0, a=-2.0, b=2.0, *, std_is="parent", dtype=np.float32,
                 generator=None, like=None):
    return _allocating(shape, dtype, like,
                       lambda sh, dt, nm: _trunc_normal_plan(dt, mean, std, a, b, std_is), generator)


def xavier_uniform_(x, gain=1.0, *, layout="channels_first", generator=None):
    """U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    return _inplace(x, lambda sh, dt, nm: _bounded(dt, math.sqrt(3.0) * _xavier_std(sh, dt, gain, layout, nm)),
                    generator)


def xavier_uniform(shape, gain=1.0, *, layout="channels_first", dtype=np.float32, generator=None, like=None):
    return _allocating(shape, dtype, like,
                       lambda sh, dt, nm: _bounded(dt, math.sqrt(3.0) * _xavier_std(sh, dt, gain, layout, nm)),
                       generator)


def xavier_normal_(x, gain=1.0, *, layout="channels_first", generator=None):
    """N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    return _inplace(x, lambda sh, dt, nm: _normal_plan(dt, 0.0, _xavier_std(sh, dt, gain, layout, nm)), generator)


def xavier_normal(shape, gain=1.0, *, layout="channels_first", dtype=np.float32, generator=None, like=None):
    return _allocating(shape, dtype, like,
                       lambda sh, dt, nm: _normal_plan(dt, 0.0, _xavier_std(sh, dt, gain, layout, nm)), generator)


def kaiming_uniform_(x, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, layout="channels_first",
                     generator=None):
    """U(-bound, bound), bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a)
    (He et al. 2015)."""
    return _inplace(x, lambda sh, dt, nm: _bounded(dt, math.sqrt(3.0) * _kaiming_std(sh, a, mode, nonlinearity, layout, nm)),
                    generator)


def kaiming_uniform(shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, layout="channels_first",
                    dtype=np.float32, generator=None, like=None):
    return _allocating(shape, dtype, like,
                       lambda sh, dt, nm: _bounded(dt, math.sqrt(3.0) * _kaiming_std(sh, a, mode, nonlinearity, layout, nm)),
                       generator)


def kaiming_normal_(x, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, layout="channels_first",
                    generator=None):
    """N(0, std^2), std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a)."""
    return _inplace(x, lambda sh, dt, nm: _normal_plan(dt, 0.0, _kaiming_std(sh, a, mode, nonlinearity, layout, nm)),
                    generator)


def kaiming_normal(shape, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, layout="channels_first",
                   dtype=np.float32, generator=None, like=None):
    return _allocating(shape, dtype, like,
                       lambda sh, dt, nm: _normal_plan(dt, 0.0, _kaiming_std(sh, a, mode, nonlinearity, layout, nm)),
                       generator)


def lecun_uniform_(x, *, layout="channels_first", generator=None):
    """U(-bound, bound), bound = sqrt(3 / fan_in) (variance 1/fan_in, LeCun et al. 1998)."""
    return _inplace(x, lambda sh, dt, nm: _bounded(dt, math.sqrt(3.0) * _lecun_std(sh, layout, nm)), generator)


def lecun_uniform(shape, *, layout="channels_first", dtype=np.float32, generator=None, like=None):
    return _allocating(shape, dtype, like,
                       lambda sh, dt, nm: _bounded(dt, math.sqrt(3.0) * _lecun_std(sh, layout, nm)), generator)


def lecun_normal_(x, *, layout="channels_first", generator=None):
    """N(0, 1/fan_in) (a plain normal; JAX/Keras use a truncated normal of the same variance)."""
    return _inplace(x, lambda sh, dt, nm: _normal_plan(dt, 0.0, _lecun_std(sh, layout, nm)), generator)


def lecun_normal(shape, *, layout="channels_first", dtype=np.float32, generator=None, like=None):
    return _allocating(shape, dtype, like,
                       lambda sh, dt, nm: _normal_plan(dt, 0.0, _lecun_std(sh, layout, nm)), generator)


def orthogonal_(x, gain=1.0, *, layout="channels_first", generator=None):
    """A (semi-)orthogonal matrix times gain (Saxe et al. 2014), PyTorch's recipe: the weight as
    (out, prod(rest)); float64 normals from the stream, NumPy QR on the host (every backend),
    signs fixed by diag(R)."""
    return _inplace(x, lambda sh, dt, nm: _orthogonal_plan(sh, dt, gain, layout, nm), generator)


def orthogonal(shape, gain=1.0, *, layout="channels_first", dtype=np.float32, generator=None, like=None):
    return _allocating(shape, dtype, like, lambda sh, dt, nm: _orthogonal_plan(sh, dt, gain, layout, nm), generator)


def sparse_(x, k, std=0.01, *, layout="channels_first", generator=None):
    """Every output neuron gets exactly k non-zero inputs, N(0, std^2), the rest 0 (Martens 2010)."""
    return _inplace(x, lambda sh, dt, nm: _sparse_plan(sh, dt, k, std, layout, nm), generator)


def sparse(shape, k, std=0.01, *, layout="channels_first", dtype=np.float32, generator=None, like=None):
    return _allocating(shape, dtype, like, lambda sh, dt, nm: _sparse_plan(sh, dt, k, std, layout, nm), generator)
