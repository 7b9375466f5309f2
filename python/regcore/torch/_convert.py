"""``convert(model)``: swap torch's regularization and normalization modules for regcore's, in
place, keeping parameters, buffers (the same tensor objects), train/eval mode and every other
attribute; ``convert_sync_batchnorm``: BatchNorm*d -> regcore's SyncBatchNorm.

Replaced (exact type match, so subclasses with their own behaviour are left alone): nn.Dropout,
nn.Dropout1d/2d/3d, nn.AlphaDropout, nn.FeatureAlphaDropout, nn.BatchNorm1d/2d/3d, nn.LayerNorm,
nn.GroupNorm, nn.InstanceNorm1d/2d/3d, nn.SyncBatchNorm. A lazy module not yet materialized
(nn.LazyBatchNorm*d, nn.LazyInstanceNorm*d) is told to become regcore's class when torch
materializes it (its ``cls_to_become``): torch swaps the class in a hook of the first call, whose
forward is already torch's, so regcore's runs from the second call on. Anything else is left
as it is.
"""
from __future__ import annotations

from torch import nn

from .nn import channel_dropout as _channel
from .nn import dropout as _dropout
from .nn import normalization as _norm
from .nn import sync_batchnorm as _sync

_REPLACEMENTS = {
    nn.Dropout: _dropout.Dropout,
    nn.Dropout1d: _channel.Dropout1d,
    nn.Dropout2d: _channel.Dropout2d,
    nn.Dropout3d: _channel.Dropout3d,
    nn.AlphaDropout: _channel.AlphaDropout,
    nn.FeatureAlphaDropout: _channel.FeatureAlphaDropout,
    nn.BatchNorm1d: _norm.BatchNorm1d,
    nn.BatchNorm2d: _norm.BatchNorm2d,
    nn.BatchNorm3d: _norm.BatchNorm3d,
    nn.SyncBatchNorm: _sync.SyncBatchNorm,
    nn.LayerNorm: _norm.LayerNorm,
    nn.GroupNorm: _norm.GroupNorm,
    nn.InstanceNorm1d: _norm.InstanceNorm1d,
    nn.InstanceNorm2d: _norm.InstanceNorm2d,
    nn.InstanceNorm3d: _norm.InstanceNorm3d,
}

# regcore's keyword-only extras a converted module starts with (torch's modules have none)
_EXTRAS = {_dropout.Dropout: dict(mask="bits", mode="inverted", generator=None)}
_EXTRAS.update({cls: dict(mask="bits", generator=None) for cls in
                (_channel.Dropout1d, _channel.Dropout2d, _channel.Dropout3d, _channel.AlphaDropout,
                 _channel.FeatureAlphaDropout)})


def _swap(module, cls):
    """module itself, re-classed: the same object keeps its parameters, buffers, hooks and mode;
    regcore's classes add behaviour, not state (the extras below)."""
    module.__class__ = cls
    for k, v in _EXTRAS.get(cls, {}).items():
        setattr(module, k, v)
    return module


def convert(model, *, generator=None):
    """Replace, in place, every module of ``model`` (model itself included) that regcore has a
    drop-in for; returns ``model``. ``generator``: given to every converted random module."""
    for m in model.modules():
        cls = _REPLACEMENTS.get(type(m))
        if cls is not None:
            _swap(m, cls)
            if hasattr(m, "generator"):
                m.generator = generator
        elif isinstance(m, nn.modules.lazy.LazyModuleMixin) and getattr(m, "cls_to_become", None) in _REPLACEMENTS:
            m.cls_to_become = _REPLACEMENTS[m.cls_to_become]   # (the lazy norms: no extras to set)
    return model


def convert_sync_batchnorm(module, process_group=None):
    """Every BatchNorm1d/2d/3d (torch's or regcore's) and every torch nn.SyncBatchNorm under
    ``module`` becomes regcore's SyncBatchNorm, keeping parameters, buffers, mode and
    ``process_group`` (torch's nn.SyncBatchNorm.convert_sync_batchnorm, returning the new
    module). Torch's SyncBatchNorm too: torch's DDP refuses it on the CPU."""
    bns = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
    if isinstance(module, bns) or type(module) is nn.SyncBatchNorm:   # (regcore's own is neither)
        out = _sync.SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                  module.track_running_stats, process_group)
        if module.affine:
            out.weight, out.bias = module.weight, module.bias
        out.running_mean, out.running_var = module.running_mean, module.running_var
        out.num_batches_tracked = module.num_batches_tracked
        out.training = module.training
        if hasattr(module, "qconfig"):
            out.qconfig = module.qconfig
        return out
    for name, child in module.named_children():
        new = convert_sync_batchnorm(child, process_group)
        if new is not child:
            module.add_module(name, new)
    return module
