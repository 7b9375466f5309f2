"""Normalization modules on regcore's kernels. Each subclasses the torch module it replaces, so
parameters, buffers, state_dict keys, isinstance checks, ``momentum=None``,
``track_running_stats``, ``affine`` and channels_last inputs behave as in torch; only the
arithmetic is regcore's.
"""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn.modules.instancenorm import _InstanceNorm

from . import functional as F
from ._capture import NotScriptable, Proxy, traced_call

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm", "InstanceNorm1d",
           "InstanceNorm2d", "InstanceNorm3d"]


class _BatchNormForward(NotScriptable):
    """forward of torch's _BatchNorm on regcore's functional batch_norm. The batch counter is
    advanced after the operator succeeded, so a refused input changes no buffer."""

    def forward(self, input):
        if input.__class__ is not Tensor and isinstance(input, Proxy):   # torch.fx tracing (_capture.py)
            return traced_call(self, input)
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        counting = self.training and self.track_running_stats and self.num_batches_tracked is not None
        if counting and self.momentum is None:   # cumulative moving average
            factor = 1.0 / (float(self.num_batches_tracked) + 1.0)
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        use_running = not self.training or self.track_running_stats
        y = F.batch_norm(input, self.running_mean if use_running else None,
                         self.running_var if use_running else None, self.weight, self.bias, bn_training,
                         factor, self.eps)
        if counting:
            self.num_batches_tracked.add_(1)
        return y


class BatchNorm1d(_BatchNormForward, nn.BatchNorm1d):
    """torch.nn.BatchNorm1d on regcore's kernels."""


class BatchNorm2d(_BatchNormForward, nn.BatchNorm2d):
    """torch.nn.BatchNorm2d on regcore's kernels (NCHW and channels_last)."""


class BatchNorm3d(_BatchNormForward, nn.BatchNorm3d):
    """torch.nn.BatchNorm3d on regcore's kernels (NCDHW and channels_last_3d)."""


class LayerNorm(NotScriptable, nn.LayerNorm):
    """torch.nn.LayerNorm on regcore's kernels."""

    def forward(self, input):
        if input.__class__ is not Tensor and isinstance(input, Proxy):   # torch.fx tracing (_capture.py)
            return traced_call(self, input)
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)


class GroupNorm(NotScriptable, nn.GroupNorm):
    """torch.nn.GroupNorm on regcore's kernels."""

    def forward(self, input):
        if input.__class__ is not Tensor and isinstance(input, Proxy):   # torch.fx tracing (_capture.py)
            return traced_call(self, input)
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)


class _InstanceNormForward(NotScriptable):
    """torch's _InstanceNorm.forward (checks, unbatched inputs) calls this for the arithmetic."""

    def forward(self, input):
        if input.__class__ is not Tensor and isinstance(input, Proxy):   # torch.fx tracing (_capture.py)
            return traced_call(self, input)
        return _InstanceNorm.forward(self, input)

    def _apply_instance_norm(self, input):
        return F.instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                               self.training or not self.track_running_stats,
                               self.momentum if self.momentum is not None else 0.0, self.eps)


class InstanceNorm1d(_InstanceNormForward, nn.InstanceNorm1d):
    """torch.nn.InstanceNorm1d on regcore's kernels."""


class InstanceNorm2d(_InstanceNormForward, nn.InstanceNorm2d):
    """torch.nn.InstanceNorm2d on regcore's kernels."""


class InstanceNorm3d(_InstanceNormForward, nn.InstanceNorm3d):
    """torch.nn.InstanceNorm3d on regcore's kernels."""
