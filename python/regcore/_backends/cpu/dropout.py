"""Native CPU dropout family: the extension's kernels (same signatures as the numpy backend)."""
from __future__ import annotations

from ..._native import cpu as _ext

__all__ = ["dropout_forward", "dropout_backward", "bias_act_dropout_forward",
           "bias_act_dropout_backward", "gaussian_noise"]


def dropout_forward(x, y, bits, bytes_, seed, offset, t, drop_all, scale):
    _ext.dropout_forward(x, y, bits, bytes_, seed, offset, t, drop_all, float(scale))


def dropout_backward(dy, dx, bits, bytes_, seed, offset, t, drop_all, scale):
    _ext.dropout_backward(dy, dx, bits, bytes_, seed, offset, t, drop_all, float(scale))


def bias_act_dropout_forward(x, bias, residual, y, bits, bytes_, act, seed, offset, t, drop_all, scale):
    _ext.bias_act_dropout_forward(x, bias, residual, y, bits, bytes_, act, seed, offset, t, drop_all,
                                  float(scale))


def bias_act_dropout_backward(dy, x, bias, bits, bytes_, dx, dbias, act, seed, offset, t, drop_all, scale):
    _ext.bias_act_dropout_backward(dy, x, bias, bits, bytes_, dx, dbias, act, seed, offset, t, drop_all,
                                   float(scale))


def gaussian_noise(x, y, seed, offset, mean, std, multiplicative):
    _ext.gaussian_noise(x, y, seed, offset, float(mean), float(std), bool(multiplicative))
