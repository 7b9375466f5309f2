"""Dropout-family operators: ``torch.ops.regcore.dropout``, ``dropout_backward``, ``dropout_``,
``gaussian_noise``, ``bias_act_dropout``, ``bias_act_dropout_backward``.

Each forward takes its ``seed_offset`` (see _rng.py) and returns the 1-bit mask words it kept
for the backward (int32 words holding the uint32 bit layout of docs/dropout.md; an empty tensor
for ``store_mask=False``, where the backward redraws the mask from seed_offset). The kernels
call regcore's array API; the backward formulas are regcore's backward calls.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from .. import BiasActDropoutState, DropoutMask
from .. import bias_act_dropout as _bias_act_dropout
from .. import bias_act_dropout_backward as _bias_act_dropout_backward
from .. import dropout as _dropout
from .. import dropout_ as _dropout_inplace
from .. import dropout_backward as _dropout_backward
from .. import gaussian_noise as _gaussian_noise
from ..dropout import (bias_act_dropout_backward_plan, bias_act_dropout_plan, dropout_backward_plan, dropout_plan,
                       gaussian_noise_plan)
from ._autograd import autograd, call, save
from ._checks import numpy_dtype
from ._fastpath import as_tensor, fast_kernel
from ._library import define, define_inplace
from ._rng import decode, positioned


def _mode(vanilla: bool) -> str:
    return "vanilla" if vanilla else "inverted"


def _mask_words(m, like):
    return like.new_empty((0,), dtype=torch.int32) if m.bits is None else m.bits.view(torch.int32)


def _mask(t, bits, seed_offset, p, vanilla) -> DropoutMask:
    """The forward's DropoutMask, rebuilt from what the operators carry between the passes."""
    seed, offset = decode(seed_offset)
    stored = bits.numel() > 0
    return DropoutMask(p=p, mode=_mode(vanilla), kind="bits" if stored else "none", shape=tuple(t.shape),
                       dtype=numpy_dtype(t.dtype), device=t.device.type, device_id=t.device.index or 0, seed=seed,
                       offset=offset, bits=bits.view(torch.uint32) if stored else None)


def fake_words(count, store_mask, like):
    """The fake mask words of a forward making ``count`` keep decisions: ceil(count / 32) int32
    words, none for ``store_mask=False``.

    Exporting with a dynamic batch, that count is an expression in the batch that reaches 1 at
    small batches (16 features, batch 2: 32 decisions, one word), and torch's tensor metadata
    (is_contiguous: ``numel() < 2``) would guard it against 1, refusing the batch's range. The
    words' length is then a fresh size of its own (unbacked), which nothing downstream relates to
    the batch: the backward operators take the words whatever their length."""
    if not store_mask:
        return like.new_empty((0,), dtype=torch.int32)
    words = (count + 31) // 32
    if isinstance(words, torch.SymInt) and torch.compiler.is_exporting():
        words = torch.library.get_ctx().new_dynamic_size()
    return like.new_empty((words,), dtype=torch.int32)


# ------------------------------------------------------------------ dropout

def _dropout_impl(x, seed_offset, p, vanilla, store_mask):
    y, m = _dropout(x, p, generator=positioned(seed_offset), mode=_mode(vanilla),
                    mask="bits" if store_mask else "none")
    return y, _mask_words(m, x)


# The trusted plans (_fastpath.py) take NumPy views: seed_offset's, the bits' as int32 words.

def _words(bits):
    """The mask words a forward returns (int32: torch has no uint32 arithmetic), empty when none
    are stored (made by NumPy: torch.empty's argument parsing costs more)."""
    return torch.from_numpy(_NO_WORDS() if bits is None else bits.view(np.int32))


_NO_WORDS = functools.partial(np.empty, (0,), np.int32)


def _stored(words):
    return words.view(np.uint32) if words.size else None


def masked_forward(run):
    """The trusted kernel of a masked forward operator ``(x, seed_offset, <scalars>) -> (y,
    words)`` from the array API's plan ``run(x, seed, offset) -> (y, bits or None)``."""
    def trusted(x, seed_offset, *_):
        y, bits = run(x, *decode(seed_offset))
        return as_tensor(y), _words(bits)
    return trusted


def masked_backward(run):
    """The trusted kernel of a masked backward operator ``(dy, words, seed_offset, <scalars>) ->
    dx`` from the array API's plan ``run(dy, bits or None, seed, offset) -> dx``."""
    return lambda dy, words, seed_offset, *_: as_tensor(run(dy, _stored(words), *decode(seed_offset)))


def _dropout_plan(x, seed_offset, p, vanilla, store_mask):
    return masked_forward(dropout_plan(x.shape, x.dtype, p, _mode(vanilla), "bits" if store_mask else "none"))


dropout = define("dropout(Tensor x, Tensor seed_offset, float p, bool vanilla, bool store_mask) -> (Tensor, Tensor)",
                 fast_kernel(_dropout_impl, _dropout_plan),
                 lambda x, so, p, vanilla, store: (torch.empty_like(x), fake_words(x.numel(), store, x)))


def _dropout_backward_impl(dy, bits, seed_offset, p, vanilla):
    return _dropout_backward(dy, _mask(dy, bits, seed_offset, p, vanilla))


def _dropout_backward_plan(dy, bits, seed_offset, p, vanilla):
    return masked_backward(dropout_backward_plan(dy.shape, dy.dtype, p, _mode(vanilla)))


dropout_backward = define(
    "dropout_backward(Tensor dy, Tensor bits, Tensor seed_offset, float p, bool vanilla) -> Tensor",
    fast_kernel(_dropout_backward_impl, _dropout_backward_plan),
    lambda dy, bits, so, p, vanilla: torch.empty_like(dy))


def masked_formulas(forward_op, backward_op, n_scalars):
    """The formulas of a masked forward ``(x, seed_offset, <n_scalars scalars>, ...) -> (y,
    words)`` whose backward operator is ``backward_op(dy, words, seed_offset, <those scalars>)
    -> dx``. y is x times the mask's factor (0, or the scale; plus a constant for alpha
    dropout), linear in x and constant in everything else, so:

    * its gradient is backward_op on dy, and its forward-mode tangent backward_op on x's tangent;
    * backward_op itself is linear in dy, so its own gradient and tangent are backward_op again
      on theirs, at the same (seed, offset) and bits: second derivatives (a gradient penalty, a
      Hessian-vector product) and forward-over-reverse (torch.func.hessian) flow through the
      dropout layers."""
    nones = (None,) * (len(forward_op._schema.arguments) - 1)   # (the gradients of all but x)

    def setup(ctx, inputs, output):
        save(ctx, output[1], inputs[1])
        ctx.args = inputs[2:2 + n_scalars]

    def grad(ctx, dy, _dwords):
        bits, seed_offset = ctx.saved_tensors
        return (call(backward_op, dy.contiguous(), bits, seed_offset, *ctx.args), *nones)

    def jvp(ctx, x_t, *_):
        return (None if x_t is None else call(backward_op, x_t.contiguous(), *ctx.saved_tensors, *ctx.args)), None

    autograd(forward_op, grad, setup, jvp=jvp)

    def backward_setup(ctx, inputs, output):
        save(ctx, inputs[1], inputs[2])
        ctx.args = inputs[3:]

    def backward_grad(ctx, g):
        bits, seed_offset = ctx.saved_tensors
        return (call(backward_op, g.contiguous(), bits, seed_offset, *ctx.args), None, None, *(None for _ in ctx.args))

    def backward_jvp(ctx, dy_t, *_):
        return None if dy_t is None else call(backward_op, dy_t.contiguous(), *ctx.saved_tensors, *ctx.args)

    autograd(backward_op, backward_grad, backward_setup, jvp=backward_jvp)


masked_formulas(dropout, dropout_backward, 2)   # (p, vanilla)


def _dropout_inplace_impl(x, seed_offset, p, vanilla):
    _dropout_inplace(x, p, generator=positioned(seed_offset), mode=_mode(vanilla), mask="none")


dropout_ = define_inplace("dropout_(Tensor(a!) x, Tensor seed_offset, float p, bool vanilla) -> ()",
                          _dropout_inplace_impl, lambda x, so, p, vanilla: None, mutates=("x",))


# ------------------------------------------------------------------ gaussian noise

def _noise_impl(x, seed_offset, std, multiplicative):
    return _gaussian_noise(x, std, mode="multiplicative" if multiplicative else "additive",
                           generator=positioned(seed_offset))


def _noise_plan(x, seed_offset, std, multiplicative):
    run = gaussian_noise_plan(x.shape, x.dtype, std, multiplicative)
    return lambda x, seed_offset, std, multiplicative: as_tensor(run(x, *decode(seed_offset)))


gaussian_noise = define("gaussian_noise(Tensor x, Tensor seed_offset, float std, bool multiplicative) -> Tensor",
                        fast_kernel(_noise_impl, _noise_plan), lambda x, so, std, mult: torch.empty_like(x))


def _noise_setup(ctx, inputs, output):
    _, seed_offset, std, multiplicative = inputs
    save(ctx, seed_offset)
    ctx.std, ctx.multiplicative = std, multiplicative


def _noise_grad(ctx, dy):
    # additive: dx = dy. multiplicative: dx = dy * n with the forward's n, which is the same
    # operator applied to dy at the same (seed, offset): one IEEE product, the same bits (and
    # an operator with this formula: differentiable again).
    if not ctx.multiplicative:
        return dy, None, None, None
    (seed_offset,) = ctx.saved_tensors
    return call(gaussian_noise, dy.contiguous(), seed_offset, ctx.std, True), None, None, None


def _noise_jvp(ctx, x_t, *_):
    if x_t is None or not ctx.multiplicative:
        return x_t
    return call(gaussian_noise, x_t.contiguous(), *ctx.saved_tensors, ctx.std, True)


autograd(gaussian_noise, _noise_grad, _noise_setup, jvp=_noise_jvp)


# ------------------------------------------------------------------ bias + activation + dropout

def _bad_impl(x, bias, residual, seed_offset, activation, p, store_mask):
    y, state = _bias_act_dropout(x, bias, activation, p, residual=residual, generator=positioned(seed_offset),
                                 mask="bits" if store_mask else "none")
    return y, _mask_words(state.mask, x)


def _bad_plan(x, bias, residual, seed_offset, activation, p, store_mask):
    run = bias_act_dropout_plan(x.shape, x.dtype, activation, p, "bits" if store_mask else "none")

    def trusted(x, bias, residual, seed_offset, activation, p, store_mask):
        y, bits = run(x, bias, residual, *decode(seed_offset))
        return as_tensor(y), _words(bits)
    return trusted


bias_act_dropout = define(
    "bias_act_dropout(Tensor x, Tensor bias, Tensor? residual, Tensor seed_offset, str activation, float p, "
    "bool store_mask) -> (Tensor, Tensor)",
    fast_kernel(_bad_impl, _bad_plan),
    lambda x, b, r, so, act, p, store: (torch.empty_like(x), fake_words(x.numel(), store, x)))


def _bad_backward_impl(dy, x, bias, bits, seed_offset, activation, p, has_residual):
    state = BiasActDropoutState(x, bias, activation, has_residual, _mask(x, bits, seed_offset, p, False))
    dx, dbias = _bias_act_dropout_backward(dy, state)[:2]
    return dx, dbias


def _bad_backward_plan(dy, x, bias, bits, seed_offset, activation, p, has_residual):
    run = bias_act_dropout_backward_plan(x.shape, x.dtype, activation, p)

    def trusted(dy, x, bias, bits, seed_offset, activation, p, has_residual):
        dx, db = run(dy, x, bias, _stored(bits), *decode(seed_offset))
        return as_tensor(dx), as_tensor(db)
    return trusted


bias_act_dropout_backward = define(
    "bias_act_dropout_backward(Tensor dy, Tensor x, Tensor bias, Tensor bits, Tensor seed_offset, str activation, "
    "float p, bool has_residual) -> (Tensor, Tensor)",
    fast_kernel(_bad_backward_impl, _bad_backward_plan),
    lambda dy, x, b, bits, so, act, p, res: (torch.empty_like(x), torch.empty_like(b)))


# bias + activation + dropout: y = m * act(x + bias) [+ residual], m the mask's factor. Its
# backward operator gives dx = m * act'(x + bias) * dy and dbias = dx summed over the rows; the
# same product is the forward-mode tangent: y' = m * act'(x + bias) * (x' + bias') [+ residual'].
# The backward's own derivative has a term in act'' (the kernels have none), which vanishes for
# the activations whose slope is piecewise constant.
_PIECEWISE_LINEAR = ("identity", "relu")


def _bad_setup(ctx, inputs, output):
    x, bias, residual, seed_offset, activation, p, _ = inputs
    save(ctx, x, bias, output[1], seed_offset)
    ctx.activation, ctx.p, ctx.has_residual = activation, p, residual is not None


# The activations' derivatives as torch computes them, f'(z) * g: differentiable again
_ACTIVATION_BACKWARD = {
    "identity": lambda g, z: g,
    "relu": lambda g, z: torch.ops.aten.threshold_backward(g, z, 0),
    "gelu": lambda g, z: torch.ops.aten.gelu_backward(g, z, approximate="none"),
    "gelu_tanh": lambda g, z: torch.ops.aten.gelu_backward(g, z, approximate="tanh"),
    "tanh": lambda g, z: torch.ops.aten.tanh_backward(g, torch.tanh(z)),
    "sigmoid": lambda g, z: torch.ops.aten.sigmoid_backward(g, torch.sigmoid(z)),
}


def _bad_grad(ctx, dy, _dbits):
    x, bias, bits, seed_offset = ctx.saved_tensors
    if torch.is_grad_enabled():
        # A gradient that must itself be differentiable (create_graph=True, torch.func.grad):
        # the mask's factor (dropout's backward of ones: the same bits) times torch's derivative
        # of the activation at x + bias, in torch operations; equal to the kernel's within rounding.
        factor = call(dropout_backward, torch.ones_like(x), bits, seed_offset, ctx.p, False)
        dx = _ACTIVATION_BACKWARD[ctx.activation](dy * factor, x + bias)
        dbias = dx.sum(tuple(range(x.dim() - 1)))
    else:
        dx, dbias = call(bias_act_dropout_backward, dy.contiguous(), x, bias, bits, seed_offset, ctx.activation,
                         ctx.p, ctx.has_residual)
    return dx, dbias, (dy if ctx.has_residual else None), None, None, None, None


def _bad_jvp(ctx, x_t, bias_t, residual_t, *_):
    x, bias, bits, seed_offset = ctx.saved_tensors
    if x_t is None:
        t = None if bias_t is None else bias_t.expand_as(x)
    else:
        t = x_t if bias_t is None else x_t + bias_t
    y_t = None
    if t is not None:
        y_t = call(bias_act_dropout_backward, t.contiguous(), x, bias, bits, seed_offset, ctx.activation, ctx.p,
                   ctx.has_residual)[0]
    if residual_t is not None:
        y_t = residual_t if y_t is None else y_t + residual_t
    return y_t, None


autograd(bias_act_dropout, _bad_grad, _bad_setup, jvp=_bad_jvp)


def _bad_backward_setup(ctx, inputs, output):
    _, x, bias, bits, seed_offset, activation, p, has_residual = inputs
    save(ctx, x, bias, bits, seed_offset)
    ctx.args = (activation, p, has_residual)


def _second_order(ctx):
    """Refuse the backward operator's own derivatives for a curved activation (the act'' term)."""
    activation = ctx.args[0]
    if activation not in _PIECEWISE_LINEAR:
        raise RuntimeError(f"regcore::bias_act_dropout with activation {activation!r}: a second derivative (a "
                           "derivative of its backward) is not implemented, only for the piecewise-linear "
                           f"activations {', '.join(_PIECEWISE_LINEAR)}")


def _bad_backward_grad(ctx, g_dx, g_dbias):
    # For a piecewise-linear activation dx = m * act' * dy is linear in dy and constant in x
    # and bias: the gradient into dy is m * act' * (g_dx + g_dbias on every row), the
    # backward operator applied to it.
    _second_order(ctx)
    x, bias, bits, seed_offset = ctx.saved_tensors
    if g_dbias is not None:
        g_dx = g_dbias.expand_as(x) if g_dx is None else g_dx + g_dbias
    if g_dx is None:
        return (None,) * 8
    gdy = call(bias_act_dropout_backward, g_dx.contiguous(), x, bias, bits, seed_offset, *ctx.args)[0]
    return gdy, None, None, None, None, None, None, None


def _bad_backward_jvp(ctx, dy_t, *_):
    _second_order(ctx)
    if dy_t is None:
        return None, None
    return call(bias_act_dropout_backward, dy_t.contiguous(), *ctx.saved_tensors, *ctx.args)


autograd(bias_act_dropout_backward, _bad_backward_grad, _bad_backward_setup, every_output=True,
         jvp=_bad_backward_jvp)
