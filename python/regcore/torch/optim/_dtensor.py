"""Parameters that are DTensors (torch.distributed.tensor: FSDP2's ``fully_shard``, tensor
parallelism): the fused step runs on each rank's local shard.

Every term of the update except max-norm is element-wise, so stepping the local shards of a
parameter, its gradient and its momentum buffer (laid out alike: same mesh, same placements)
is stepping the whole tensor. Max-norm is not: a neuron's norm is over every axis but
``max_norm_axis``, so the local shard holds whole neurons only when each sharded dimension is
the neuron axis (FSDP2 shards dim 0, the output axis of a weight: the default
``max_norm_axis=0`` is exact). A parameter sharded along another dimension is refused with
max-norm rather than clipped by the norms of its pieces. Partial placements (pending sums) hold
no values to step and are refused.
"""
from __future__ import annotations

import sys

_MODULE = "torch.distributed.tensor"


def dtensor_class():
    """DTensor, or None while torch.distributed.tensor was never imported (then no DTensor
    exists; importing it here would cost ~0.7 s on the first step)."""
    module = sys.modules.get(_MODULE)
    return None if module is None else getattr(module, "DTensor", None)


def check_param(p, group, where: str) -> None:
    """Refuses a DTensor parameter whose placements the step cannot run locally (see the module
    doc); any other tensor passes."""
    cls = dtensor_class()
    if cls is None or not isinstance(p, cls):
        return
    from torch.distributed.tensor import Replicate, Shard

    for placement in p.placements:
        if not isinstance(placement, (Shard, Replicate)):
            raise ValueError(f"{where}: a DTensor parameter with placement {placement} (expected Shard or "
                             "Replicate placements: a parameter holds values, not pending sums)")
    if group["max_norm"] is None or p.dim() < 2:   # (1-d: clipped element-wise)
        return
    axis = group["max_norm_axis"] % p.dim()
    for placement in p.placements:
        if isinstance(placement, Shard) and placement.dim % p.dim() != axis:
            raise ValueError(
                f"{where}: max_norm with max_norm_axis={group['max_norm_axis']} needs each neuron's whole "
                f"weight vector, and this DTensor parameter of shape {tuple(p.shape)} is sharded along dim "
                f"{placement.dim} (placements {tuple(p.placements)}); shard it along max_norm_axis (FSDP2 "
                "fully_shard shards dim 0: max_norm_axis=0), or put it in a parameter group without max_norm")


def local(t, like, name: str):
    """t's local shard when the parameter ``like`` is a DTensor (t must then be a DTensor laid out
    as ``like``), else t itself."""
    cls = dtensor_class()
    if cls is None or not (isinstance(like, cls) or isinstance(t, cls)):
        return t
    if not isinstance(like, cls) or not isinstance(t, cls):
        raise TypeError(f"{name}: expected a DTensor for a DTensor parameter and a plain tensor for a plain "
                        f"one, got a {type(t).__name__} for a {type(like).__name__} parameter")
    if t is like:
        return t.to_local()
    if t.device_mesh != like.device_mesh or tuple(t.placements) != tuple(like.placements):
        raise ValueError(f"{name}: expected a DTensor laid out as its parameter (placements "
                         f"{tuple(like.placements)}), got placements {tuple(t.placements)}")
    if t.shape != like.shape:
        raise ValueError(f"{name}: expected shape {tuple(like.shape)} (its parameter's), got {tuple(t.shape)}")
    return t.to_local()
