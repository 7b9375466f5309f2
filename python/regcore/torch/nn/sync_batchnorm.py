"""SyncBatchNorm: batch statistics over every rank of a process group, through
torch.distributed collectives (gloo for CPU tensors, NCCL for CUDA) around regcore's split
batch-norm operators (docs/batchnorm.md, "Across processes"):

    forward:  stats = batch_norm_stats(x)            (3, C) float64 (count, mean, M2) per rank
              all_gather(stats) -> merge_stats        Chan's merge in rank order: counts may differ,
                                                      a rank may hold an empty batch
              batch_norm_apply(x, merged)             y, and the running statistics
    backward: red = batch_norm_backward_reduce(dy, x) (2, C) float64 per rank
              all_reduce(red, SUM)
              batch_norm_backward_apply(dy, x, red_total, red_local)

Gathering (count, mean, M2) instead of summing (sum, sum of squares) avoids the E[x^2] - E[x]^2
cancellation. dgamma / dbeta are this rank's share (from its own sums), as torch's SyncBatchNorm
returns them, so that data-parallel training averages them like any other gradient.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from .. import _ops_norm
from ._capture import Proxy, traced_call
from .normalization import _BatchNormForward
from . import functional as F

__all__ = ["SyncBatchNorm"]


class _SyncBatchNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, eps, momentum, group, world_size):
        view, axis, inverse = F._channels_view(x)
        stats = _ops_norm.batch_norm_stats(view, axis)
        parts = [torch.empty_like(stats) for _ in range(world_size)]
        dist.all_gather(parts, stats, group=group)
        total = _ops_norm.merge_stats(torch.stack(parts))
        y, mean, var, new_mean, new_var = _ops_norm.batch_norm_apply(
            view, total, weight, bias, F._contig(running_mean), F._contig(running_var), momentum, eps, axis)
        if running_mean is not None:
            running_mean.copy_(new_mean)
            running_var.copy_(new_var)
        ctx.save_for_backward(view, weight, bias, mean, var)
        ctx.count = float(total[0, 0]) if total.shape[1] else 0.0
        ctx.eps, ctx.axis, ctx.inverse, ctx.group = eps, axis, inverse, group
        return F._restore(y, inverse)

    @staticmethod
    def backward(ctx, dy):
        view, weight, bias, mean, var = ctx.saved_tensors
        if ctx.inverse is not None:
            perm = (0, *range(2, dy.dim()), 1)
            dy = dy.permute(perm)
        dy = dy.contiguous()
        red = _ops_norm.batch_norm_backward_reduce(dy, view, weight, bias, mean, var, ctx.count, ctx.eps, ctx.axis)
        total = red.clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM, group=ctx.group)
        dx, dw, db = _ops_norm.batch_norm_backward_apply(dy, view, weight, bias, mean, var, total, red, ctx.count,
                                                         ctx.eps, ctx.axis)
        dx = F._restore(dx, ctx.inverse)
        return (dx, dw if ctx.needs_input_grad[1] else None, db if ctx.needs_input_grad[2] else None,
                None, None, None, None, None, None)


class SyncBatchNorm(_BatchNormForward, _BatchNorm):
    """torch.nn.SyncBatchNorm on regcore's kernels, on CPU tensors (gloo) as well as CUDA
    tensors (NCCL). Outside a process group of more than one rank, or in eval mode, it is
    regcore's BatchNorm.

    Not a subclass of torch.nn.SyncBatchNorm, on purpose: DistributedDataParallel refuses a
    model on the CPU that holds any instance of torch's class (torch's syncs accelerator
    tensors only), so ``isinstance(m, torch.nn.SyncBatchNorm)`` is False. Its constructor arguments, input
    checks, ``process_group``, ``convert_sync_batchnorm`` and state_dict keys are torch's.
    ``**kwargs``: the keyword-only extras of the installed torch's batch norm (``bias``)."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 process_group=None, device=None, dtype=None, **kwargs):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device=device, dtype=dtype,
                         **kwargs)
        self.process_group = process_group

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def _check_non_zero_input_channels(self, input):
        if input.size(1) == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")

    def forward(self, input):
        if input.__class__ is not Tensor and isinstance(input, Proxy):   # torch.fx tracing (_capture.py)
            return traced_call(self, input)
        self._check_input_dim(input)
        self._check_non_zero_input_channels(input)
        group = self.process_group or (dist.group.WORLD if dist.is_available() and dist.is_initialized() else None)
        world = dist.get_world_size(group) if group is not None else 1
        if not self.training or world == 1:
            return super().forward(input)
        F._checks.float_tensor(input, "input", half=True)
        factor = 0.0 if self.momentum is None else self.momentum
        counting = self.track_running_stats and self.num_batches_tracked is not None
        if counting and self.momentum is None:
            factor = 1.0 / (float(self.num_batches_tracked) + 1.0)
        running = (self.running_mean, self.running_var) if self.track_running_stats else (None, None)
        y = _SyncBatchNormFunction.apply(input, F._contig(self.weight), F._contig(self.bias), *running,
                                         float(self.eps), float(factor), group, world)
        if counting:
            self.num_batches_tracked.add_(1)
        return y

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """Every BatchNorm*d (torch's or regcore's) under ``module`` becomes a regcore
        SyncBatchNorm with the same parameters, buffers and mode (torch's recipe)."""
        from .._convert import convert_sync_batchnorm

        return convert_sync_batchnorm(module, process_group)
