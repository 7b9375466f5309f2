"""torch.nn.init's functions on regcore's samplers (docs/init.md): same names, signatures and
laws, in place under no_grad on CPU and CUDA tensors, values from regcore's stream (the same
on CPU and GPU for the same generator state).

``generator``: a ``regcore.Generator`` is drawn from directly (the same values as
``regcore.init``); ``None`` draws one 63-bit seed from torch's default generator per call (so
``torch.manual_seed`` reproduces the weights, as with torch.nn.init); a ``torch.Generator``
likewise gives one seed per call, drawn from it. Values are regcore's, not torch's: the laws
match, the samples do not.

A tensor regcore cannot write in place (channels_last weights, other strides) is filled through
a contiguous temporary in its logical order, so the values do not depend on the layout.

Where regcore has nothing to write, torch's own function runs, so a model written against
torch.nn.init keeps working: meta tensors (``with torch.device("meta")``: nothing to fill, no seed
drawn) and, for the deterministic ``constant_`` / ``zeros_`` / ``ones_``, dtypes regcore has no
kernel for (integer, bool, complex buffers) and values that are not plain real numbers (a 0-d
tensor, a bool). torch's deprecated names without the trailing underscore (``normal``,
``xavier_uniform``, ...) are kept too, with torch's FutureWarning.

Scalar arguments follow torch's rules: a bound, mean, std, gain or sparsity may be a 0-d tensor
(torch's float arguments take one by its value); a slope (``a`` of ``kaiming_*_``, ``param`` of
``calculate_gain``) that is not a number is torch's ValueError.
"""
from __future__ import annotations

import math
import numbers
import warnings

import torch

from ... import Generator
from ... import _validate
from ... import init as _init
from .. import _rng

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
           "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
           "sparse_", "uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "xavier_normal",
           "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse"]


def calculate_gain(nonlinearity, param=None):
    """regcore.init.calculate_gain with torch's exception class: torch raises ValueError for any
    nonlinearity it does not know and any slope that is not a number (a bool, a string, a tensor),
    where the array API's rule is TypeError for a value of the wrong type."""
    return _gain(nonlinearity, param, "param")


def _gain(nonlinearity, slope, name):
    try:
        return _init._nonlinearity_gain(nonlinearity, slope, name)
    except TypeError as e:
        raise ValueError(*e.args) from None


def _number(value):
    """A 0-d tensor as the number it holds, as torch's float arguments take it (not one that
    requires grad, which torch refuses too: it then reaches the array API's TypeError). .item()
    rather than float(): a bool or complex value stays one and is refused as such."""
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.requires_grad and not value.is_meta:
        return value.item()
    return value


eye_ = torch.nn.init.eye_          # deterministic: nothing of regcore's to add
dirac_ = torch.nn.init.dirac_


def _check_generator(generator):
    if generator is not None and not isinstance(generator, (Generator, torch.Generator)):
        raise TypeError("generator: expected a regcore.Generator, a torch.Generator or None, got "
                        f"{type(generator).__name__}")


def _generator(generator) -> Generator:
    _check_generator(generator)
    return generator if isinstance(generator, Generator) else Generator(_rng.torch_bits(generator))


def _check_tensor(tensor):
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"tensor: expected a torch.Tensor, got {type(tensor).__name__}")


def _fill(tensor, name, *args, random=True, generator=None, **kwargs):
    """regcore.init's ``name`` on tensor; on a meta tensor (no storage to write, nothing drawn)
    torch.nn.init's ``name``, whose argument checks and no-op are what torch users expect."""
    _check_tensor(tensor)
    if tensor.is_meta:
        _check_generator(generator)
        return getattr(torch.nn.init, name)(tensor, *args)
    sampler = getattr(_init, name)
    if random:
        kwargs["generator"] = _generator(generator)
    with torch.no_grad():
        target = tensor if tensor.is_contiguous() else torch.empty(tensor.shape, dtype=tensor.dtype,
                                                                   device=tensor.device)
        sampler(target, *args, **kwargs)
        if target is not tensor:
            tensor.copy_(target)
        else:
            torch.autograd.graph.increment_version(tensor)   # written through a view autograd cannot see
    return tensor


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    return _fill(tensor, "uniform_", _number(a), _number(b), generator=generator)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    return _fill(tensor, "normal_", _number(mean), _number(std), generator=generator)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """N(mean, std^2) restricted to [a, b] by inverse-CDF sampling (std: the parent's, as torch)."""
    return _fill(tensor, "trunc_normal_", *map(_number, (mean, std, a, b)), generator=generator)


_FILL_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)


def _deterministic(tensor, name, *args):
    """A constant fill: regcore's for its float dtypes and real values, torch's fill otherwise
    (an integer or bool buffer, a 0-d tensor value), as torch.nn.init accepts them."""
    _check_tensor(tensor)
    real = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in args)
    if tensor.dtype not in _FILL_DTYPES or not real:
        return getattr(torch.nn.init, name)(tensor, *args)
    return _fill(tensor, name, *args, random=False)


def constant_(tensor, val):
    return _deterministic(tensor, "constant_", val)


def ones_(tensor):
    return _deterministic(tensor, "ones_")


def zeros_(tensor):
    return _deterministic(tensor, "zeros_")


def xavier_uniform_(tensor, gain=1.0, generator=None):
    return _fill(tensor, "xavier_uniform_", _number(gain), generator=generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    return _fill(tensor, "xavier_normal_", _number(gain), generator=generator)


def _kaiming(name, tensor, a, mode, nonlinearity, generator):
    # torch warns and returns before anything else (no check, no draw from the generator)
    if isinstance(tensor, torch.Tensor) and 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return tensor
    _gain(nonlinearity, a, "a")   # the slope by torch's rule (None: 0.01), with torch's ValueError
    return _fill(tensor, name, a, mode, nonlinearity, generator=generator)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    return _kaiming("kaiming_uniform_", tensor, a, mode, nonlinearity, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    return _kaiming("kaiming_normal_", tensor, a, mode, nonlinearity, generator)


def orthogonal_(tensor, gain=1, generator=None):
    return _fill(tensor, "orthogonal_", _number(gain), generator=generator)


def sparse_(tensor, sparsity, std=0.01, generator=None):
    """torch's law: a 2-D tensor whose every COLUMN has ceil(sparsity * rows) zeros, the other
    entries N(0, std^2). regcore.init.sparse_ keeps exactly k entries per row; applied to the
    transposed (cols, rows) matrix with k = rows - ceil(sparsity * rows) it is torch's law
    (k clipped to [0, rows]: torch zeroes every row for sparsity > 1, none for sparsity < 0)."""
    if not isinstance(tensor, torch.Tensor) or tensor.dim() != 2:
        raise ValueError("tensor: expected a 2-D tensor (torch.nn.init.sparse_'s rule)")
    if tensor.is_meta:
        _check_generator(generator)
        return tensor
    # named, with torch's exception classes (a NaN: ValueError; not a number: TypeError)
    sparsity, std = _validate.real("sparsity", _number(sparsity)), _number(std)
    rows, cols = tensor.shape
    keep = min(rows, max(0, rows - int(math.ceil(sparsity * rows))))
    with torch.no_grad():
        t = torch.empty((cols, rows), dtype=tensor.dtype, device=tensor.device)
        _init.sparse_(t, keep, std, generator=_generator(generator))
        tensor.copy_(t.T)
    return tensor


def _deprecated(new):
    """torch's old name for ``new`` (its trailing underscore dropped), with torch's warning."""
    old = new.__name__[:-1]

    def deprecated_init(*args, **kwargs):
        warnings.warn(f"`nn.init.{old}` is now deprecated in favor of `nn.init.{new.__name__}`.", FutureWarning,
                      stacklevel=2)
        return new(*args, **kwargs)

    deprecated_init.__name__ = deprecated_init.__qualname__ = old
    deprecated_init.__doc__ = f"Deprecated (as in torch): use ``{new.__name__}``."
    return deprecated_init


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)
