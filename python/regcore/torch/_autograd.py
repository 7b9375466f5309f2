"""The autograd side of the ``regcore`` operators (_library.py declares them): every functional
operator's Autograd kernel, the formulas autograd() gives it (reverse and forward mode), and
call(), through which the functional layer reaches an operator so that torch.func's transforms
see its formulas.

An operator without a formula raises, naming itself, when a gradient or a tangent would have to
pass through it: the gradient must never stop silently (torch's fallback for an operator without
an Autograd kernel only warns, and a gradient penalty through a regcore layer came out wrong).
"""
from __future__ import annotations

import torch

_BACKEND_KERNELS = {}   # operator overload -> (its CPU/CUDA kernel, the impl it runs with grad mode off)
_FORMULAS = {}   # functional operator overload -> [its formulas' kernel (autograd()), or None: none]
_grad_enabled = torch.is_grad_enabled
_any_requires_grad = torch._C._any_requires_grad
_functorch_active = torch._C._are_functorch_transforms_active
# by value: the key highestPriorityTypeId returns is a new object each call, and comparing
# those costs several times what comparing their values does
_BACKEND_KEYS = frozenset(k.value for k in (torch._C.DispatchKey.CPU, torch._C.DispatchKey.CUDA))


def autograd(op, backward, setup_context, *, every_output=False, jvp=None):
    """Register the autograd formula of a functional operator (its Autograd kernel,
    kernel(), runs it).

    This is the registration torch.library.register_autograd makes (an autograd.Function whose
    forward redispatches below autograd, applied only when autograd is recording and an input
    requires grad), minus the per-call work it adds: rebuilding the argument list from the
    schema (O(arguments^2) pybind conversions: ~40 us for a 9-argument operator, more than a
    small batch-norm kernel) and a metadata record per call. ``setup_context(ctx, inputs,
    output)`` and ``backward(ctx, *grads)`` have register_autograd's meaning; every argument of
    our schemas is positional, so ``inputs`` is what the caller passed. Unless ``every_output``,
    the formula reads the gradient of the first output only (the others are statistics and
    masks), and no gradient there means no gradients at all.

    ``jvp(ctx, *input_tangents)`` is the forward-mode formula (torch.func.jvp / jacfwd,
    torch.autograd.forward_ad): the outputs' tangents (None: none). Without it, forward-mode AD
    through the operator raises naming it: the tangent must never be dropped silently."""
    overload = op if isinstance(op, torch._ops.OpOverload) else op.default
    direct, impl = _BACKEND_KERNELS[overload]
    n_inputs = len(overload._schema.arguments) + 1   # and the key set

    # args: the operator's arguments, then the key set below autograd: None for eager tensors
    # (kernel(): the operator's own kernel, called directly), _DISPATCH under a functorch
    # transform (the arguments here are its unwrapped tensors: a fresh dispatch), else the key
    # set to redispatch to.
    def forward(*args):
        keyset, args = args[-1], args[:-1]
        if keyset is None:
            return impl(*args)   # (grad mode is off here)
        if keyset is _DISPATCH:
            return overload(*args)
        return _redispatch(overload, keyset, args)

    def setup(ctx, inputs, output):
        # The engine need not fill the gradients the formula does not read with zeros (two
        # tensors a call for a norm).
        ctx.set_materialize_grads(False)
        setup_context(ctx, inputs[:-1], output)

    def backward_with_keyset(ctx, dy, *rest):
        if dy is None and not every_output:   # (no gradient reached the first output)
            return (None,) * n_inputs
        return (*backward(ctx, dy, *rest), None)

    def jvp_with_keyset(ctx, *tangents):
        if jvp is None:
            raise RuntimeError(f"regcore::{overload._opname}: forward-mode AD (torch.func.jvp, jacfwd, hessian, "
                               "torch.autograd.forward_ad) is not implemented for it; reverse mode "
                               "(torch.func.grad, jacrev, vjp) is")
        return jvp(ctx, *tangents[:-1])

    # setup_context as a staticmethod of its own: the form torch.func's transforms accept (call()
    # applies the Function under them). Under vmap they run forward, setup and backward on
    # batched tensors (generate_vmap_rule): the operators inside, dispatched afresh, go through
    # torch's batching fallback, sample by sample.
    function = type(f"{overload._opname}_autograd", (torch.autograd.Function,),
                    {"forward": staticmethod(forward), "setup_context": staticmethod(setup),
                     "backward": staticmethod(backward_with_keyset), "jvp": staticmethod(jvp_with_keyset),
                     "generate_vmap_rule": True})
    _FUNCTIONS[overload] = function
    # Function.apply minus its Python preamble, which unwraps functorch wrappers that outlived
    # their transform: the dispatcher has done so already on the way to this kernel, as for any
    # operator. With a functorch transform active, Function.apply's own route.
    apply = super(torch.autograd.Function, function).apply

    def recorded(keyset, args):
        if (_grad_enabled() and _any_requires_grad(*args)) or _forward_ad._current_level >= 0:
            if _functorch_active():   # (an autograd.Function cannot be applied from inside the dispatcher there)
                raise RuntimeError(f"regcore::{overload._opname} under a torch.func transform that differentiates "
                                   "(grad, jacrev, jvp, ...): call it through regcore.torch.nn.functional or "
                                   "the modules, which apply its formula where the transform sees it")
            return apply(*args, keyset)   # (forward-mode AD included: the Function's jvp)
        return direct(*args) if keyset is None else _redispatch(overload, keyset, args)

    _FORMULAS[overload][0] = recorded


_DISPATCH = object()   # the forward's "key set" under a functorch transform (autograd())
_FUNCTIONS = {}   # functional operator overload -> its autograd.Function (autograd())
_forward_ad = torch.autograd.forward_ad   # (its _current_level >= 0: a dual level is open)
_interpreters = torch._C._functorch.get_interpreter_stack
_DIFFERENTIATING = frozenset((torch._C._functorch.TransformType.Grad, torch._C._functorch.TransformType.Jvp))


def save(ctx, *tensors):
    """ctx.save_for_backward(*tensors), and for the jvp formulas (which read ctx.saved_tensors
    too) save_for_forward while forward-mode AD is on (a dual level is open: torch.func.jvp,
    jacfwd, hessian, torch.autograd.forward_ad): torch.func's generated vmap rules track only
    tensors saved so."""
    ctx.save_for_backward(*tensors)
    if _forward_ad._current_level >= 0:
        ctx.save_for_forward(*tensors)


def call(op, *args):
    """``op(*args)``: how the functional layer calls an operator with a formula. Under a torch.func
    transform that differentiates (grad, jacrev, vjp, jvp, jacfwd, hessian, with vmap or not),
    the operator's autograd.Function is applied here, where the transform sees it, and its
    forward dispatches the operator afresh; from inside the dispatcher the transform could not
    handle it."""
    if _functorch_active() and any(i.key() in _DIFFERENTIATING for i in _interpreters()):
        function = _FUNCTIONS.get(op)
        if function is not None:
            return function.apply(*args, _DISPATCH)
    return op(*args)


_below_autograd = torch._C._after_autograd_keyset
_NEXT_KEYS = {}   # a call's key set (its raw_repr) -> _next_keys' answer for it
_NEXT_KEYS_MAX = 256   # distinct key sets remembered before the memory starts over


def _next_keys(keyset):
    """The key set an Autograd kernel redispatches to, or None when its next key is the CPU or
    CUDA backend itself (eager tensors: no fake tensors, functionalization or dispatch modes in
    the way), whose kernel is then called directly: a second trip through the dispatcher into
    Python costs more than a small kernel. Remembered per key set: the few a program uses recur
    on every call, and the set's raw value is read in a fifth of the time the intersection and
    its highest key take."""
    raw = keyset.raw_repr()
    below = _NEXT_KEYS.get(raw, _UNSEEN)
    if below is _UNSEEN:
        below = keyset & _below_autograd
        if below.highestPriorityTypeId().value in _BACKEND_KEYS:
            below = None
        if len(_NEXT_KEYS) >= _NEXT_KEYS_MAX:
            _NEXT_KEYS.clear()
        _NEXT_KEYS[raw] = below
    return below


_UNSEEN = object()


def _redispatch(overload, keyset, args):
    with torch._C._AutoDispatchBelowAutograd():
        return overload.redispatch(keyset, *args)


def kernel(overload, direct, impl):
    """The Autograd kernel of a functional operator whose CPU/CUDA kernel is ``direct`` (``impl``
    with grad mode off): its formulas once autograd() gives it some. Without, the operator
    computes, and when autograd records and an input requires grad its floating-point outputs
    come back attached to a node that raises, naming the operator, if a gradient ever flows into
    it (a tangent raises at once). torch's fallback for an operator without an Autograd kernel
    only warned there and the gradient stopped: a gradient penalty through a regcore layer's
    backward operator came out wrong."""
    _BACKEND_KERNELS[overload] = direct, impl
    _FORMULAS[overload] = formula = [None]
    name = overload._opname
    message = (f"regcore::{name} has no derivative formula: a gradient cannot flow through it (called directly "
               "while autograd records; regcore's layers differentiate their backward with their own formulas)")

    def autograd_kernel(keyset, *args):
        keyset = _next_keys(keyset)
        if formula[0] is not None:
            return formula[0](keyset, args)
        if _forward_ad._current_level >= 0 and (_functorch_active() or any(map(_has_tangent, args))):
            raise RuntimeError(f"regcore::{name} has no forward-mode derivative (torch.func.jvp, jacfwd, hessian, "
                               "torch.autograd.forward_ad)")
        out = direct(*args) if keyset is None else _redispatch(overload, keyset, args)
        if _grad_enabled() and _any_requires_grad(*args):
            return _raising_gradients(out, message, args)
        return out
    return autograd_kernel


def _has_tangent(a):
    return isinstance(a, torch.Tensor) and _forward_ad.unpack_dual(a).tangent is not None


def _raising_gradients(out, message, args):
    """out (a tensor or a tuple of them) with its floating-point tensors made to depend, through
    a node whose backward raises ``message``, on every argument that requires grad: a gradient
    asked of any of them runs into it. (torch.autograd.function.once_differentiable attaches
    detached aliases, which lead nowhere: torch.autograd.grad then reported those arguments
    unused, or with allow_unused=True answered None, a silent zero.) The dependence is a
    ``where`` that always picks out's values, with the raising node's output as the value it
    never picks: built from torch operators and a C++ node, it also works inside torch.func's
    transforms, where an autograd.Function cannot be applied from a dispatcher kernel. It costs
    a copy of each output, only on this path (an operator without a formula called while
    autograd records: a backward operator called directly, SyncBatchNorm's phases under
    create_graph=True)."""
    outs = out if isinstance(out, tuple) else (out,)
    floats = [i for i, t in enumerate(outs) if t.is_floating_point()]
    inputs = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad and a.numel()]
    if not floats or not inputs:
        return out
    anchor = None   # one element of each input, through the raising node, folded into one scalar
    for alias in _DelayedError(message, len(inputs))(*inputs):
        first = alias.reshape(-1)[0]
        anchor = first if anchor is None else torch.where(_true(first), anchor, first.to(anchor.dtype))
    outs = list(outs)
    for i in floats:
        outs[i] = torch.where(_true(outs[i]), outs[i], anchor.to(outs[i].dtype))
    return tuple(outs) if isinstance(out, tuple) else outs[0]


_DelayedError = torch._C._functions.DelayedError   # (what once_differentiable builds on)


def _true(like):
    return torch.ones((), dtype=torch.bool, device=like.device)
