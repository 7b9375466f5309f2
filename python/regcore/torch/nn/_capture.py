"""How regcore's modules meet torch's Python-level program capture: torch.fx symbolic tracing
(each module becomes one call_module node, as torch's own modules do; one with hooks, its
hooks traced around a call of its forward) and TorchScript (refused
with a clear error). torch.compile, torch.export and torch.jit.trace need nothing here: they
record regcore's operators (docs/torch.md).

fx's default Tracer keeps a module as a call_module node only when it is a "leaf", which it
decides by the module's class living under ``torch.nn``; it traces into every other module with
Proxies for tensors, and regcore's checks and control flow on the input cannot run on a Proxy.
Tracing the functional layer instead (``torch.fx.wrap``) would put a call_function node with this
call's ``self.training`` baked in as a constant: a GraphModule traced in training mode would keep
dropping out after ``gm.eval()``, where one holding torch's modules (leaves) switches modes. So
the module, seeing a Proxy, records the call itself: ``traced_call`` adds to the tracer that called
it the call_module node fx adds for a leaf (the tracer has already entered the module, so node
names, module paths and fx-based tools that follow them see a leaf). The GraphModule then calls
the module, and train/eval, running statistics, generators and gradients are the module's own.
The cost in eager mode is the forwards' first test: ``input.__class__ is not Tensor`` (about 10 ns;
an isinstance test of a tensor alone costs about 45 ns), then isinstance only for other classes,
so that Proxy's subclasses (fx's Attribute for ``x.mT``, other tracers' Proxies) count too.
"""
from __future__ import annotations

from torch.fx import Proxy  # noqa: F401  (the forwards' isinstance test)
from torch.nn.modules import module as _module_hooks


def traced_call(module, *args):
    """The call_module node of ``module(*args)`` in the fx graph being traced."""
    tracer = args[0].tracer
    path = tracer.path_of_module(module) if hasattr(tracer, "path_of_module") else ""
    if not path:
        raise RuntimeError(f"{type(module).__name__}: torch.fx records regcore's modules as call_module nodes of "
                           "the model that holds them; trace a model holding this module (e.g. "
                           "torch.nn.Sequential(module)), not the module itself")
    if _hooked(module):
        # The module's hooks ran (pre-hooks) and will run (forward hooks) on Proxies around this
        # call, so the graph already holds them, as for any module fx traces into; a call_module
        # node would run them a second time. The node calls the forward alone.
        owner = tracer.create_proxy("get_attr", path, (), {})
        return tracer.create_proxy("call_method", "forward", (owner, *args), {})
    return tracer.create_proxy("call_module", path, args, {})


def _hooked(module):
    """Whether calling module runs hooks: nn.Module._call_impl's own test."""
    g = _module_hooks
    return bool(module._forward_hooks or module._forward_pre_hooks or module._backward_hooks
                or module._backward_pre_hooks or g._global_forward_hooks or g._global_forward_pre_hooks
                or g._global_backward_hooks or g._global_backward_pre_hooks)


class NotScriptable:
    """torch.jit.script calls ``__prepare_scriptable__`` on every module it is about to compile,
    before compiling anything: TorchScript cannot compile regcore's Python functional layer
    (keyword-only arguments, array handling), so it stops there with what to use instead."""

    def __prepare_scriptable__(self):
        raise RuntimeError(f"{type(self).__name__}: TorchScript (torch.jit.script) is not supported by regcore's "
                           "modules; use torch.compile or torch.export, or torch.jit.trace for a TorchScript "
                           "module")
