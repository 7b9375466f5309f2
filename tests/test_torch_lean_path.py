"""The per-signature plans of regcore.torch's CPU operator kernels (regcore/torch/_fastpath.py)
and the functional layer's one-test checks: a plan is worked out from the first call of a
signature but runs every later call on that call's own data, stream position and backend, and
what the checks refuse is refused whatever passed before."""
from __future__ import annotations

import numpy as np
import pytest

from _torch_helpers import rct, seed_offset, torch

import regcore as rc

ops = torch.ops.regcore
F = rct.nn.functional


def _x(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _at(seed, offset):
    return rc.Generator.from_state({"seed": seed, "offset": offset})


@pytest.mark.parametrize("store_mask", [True, False])
@pytest.mark.parametrize("vanilla", [True, False])
def test_a_cached_dropout_signature_runs_on_each_calls_data_and_stream_position(store_mask, vanilla):
    mode = "vanilla" if vanilla else "inverted"
    mask = "bits" if store_mask else "none"
    ops.dropout(_x(3, 11, 2), seed_offset(1, 2), 0.4, vanilla, store_mask)   # the signature's first call
    for seed, offset in ((9, 0), (2**63 + 5, 17)):   # (an unsigned 64-bit seed travels as a negative int64)
        x, so = _x(3, 11, 2, seed=seed % 7 + 1), seed_offset(seed - (2**64 if seed >= 2**63 else 0), offset)
        y, words = ops.dropout(x, so, 0.4, vanilla, store_mask)
        ref, m = rc.dropout(x.numpy(), 0.4, generator=_at(seed, offset), mode=mode, mask=mask)
        np.testing.assert_array_equal(y.numpy(), ref)
        dy = _x(3, 11, 2, seed=seed % 5 + 20)
        dx = ops.dropout_backward(dy, words, so, 0.4, vanilla)
        np.testing.assert_array_equal(dx.numpy(), rc.dropout_backward(dy.numpy(), m))


def test_cached_noise_and_bias_act_dropout_signatures_run_on_each_calls_data():
    x0, b0 = _x(4, 6), _x(6, seed=1)
    ops.gaussian_noise(x0, seed_offset(1), 0.3, True)
    ops.bias_act_dropout(x0, b0, None, seed_offset(1), "relu", 0.2, True)
    for seed, offset in ((5, 3), (8, 40)):
        x, b, so = _x(4, 6, seed=seed), _x(6, seed=seed + 1), seed_offset(seed, offset)
        ref = rc.gaussian_noise(x.numpy(), 0.3, mode="multiplicative", generator=_at(seed, offset))
        np.testing.assert_array_equal(ops.gaussian_noise(x, so, 0.3, True).numpy(), ref)
        y, _ = ops.bias_act_dropout(x, b, None, so, "relu", 0.2, True)
        ref, _ = rc.bias_act_dropout(x.numpy(), b.numpy(), "relu", 0.2, generator=_at(seed, offset))
        np.testing.assert_array_equal(y.numpy(), ref)


def test_cached_norm_signatures_run_on_each_calls_data():
    w, b = _x(5, seed=1), _x(5, seed=2)
    ops.layer_norm(_x(3, 5), w, b, 1, 1e-5)
    ops.batch_norm(_x(4, 5), w, b, torch.zeros(5, dtype=torch.float64), torch.ones(5, dtype=torch.float64), True,
                   0.1, 1e-5, 1)
    for seed in (3, 4):
        x = _x(3, 5, seed=seed)
        y, mean, var = ops.layer_norm(x, w, b, 1, 1e-5)
        ref, saved = rc.layer_norm(x.numpy(), w.numpy(), b.numpy(), eps=1e-5)
        np.testing.assert_array_equal(y.numpy(), ref)
        np.testing.assert_array_equal(mean.numpy(), saved.mean)
        x = _x(4, 5, seed=seed)
        rm, rv = _x(5, seed=seed + 10), _x(5, seed=seed + 11).abs()
        y, _, _, new_mean, new_var = ops.batch_norm(x, w, b, rm, rv, True, 0.1, 1e-5, 1)
        rm_ref, rv_ref = rm.numpy().copy(), rv.numpy().copy()
        ref, _ = rc.batch_norm(x.numpy(), w.numpy(), b.numpy(), rm_ref, rv_ref, training=True, momentum=0.1, eps=1e-5)
        np.testing.assert_array_equal(y.numpy(), ref)
        np.testing.assert_array_equal(new_mean.numpy(), rm_ref)
        np.testing.assert_array_equal(new_var.numpy(), rv_ref)


def test_a_cached_signature_runs_on_the_threads_backend(monkeypatch):
    """use_backend("numpy") inside a thread applies to calls whose signature the native backend
    ran before (the plan does not keep a backend)."""
    from regcore._backends import numpy_backend

    ran = []
    forward = numpy_backend.dropout_forward
    monkeypatch.setattr(numpy_backend, "dropout_forward", lambda *a: ran.append(1) or forward(*a))
    x, so = _x(7, 3), seed_offset(4, 1)
    native = ops.dropout(x, so, 0.5, False, True)
    ops.dropout(x, so, 0.5, False, True)
    assert ran == []
    with rc.use_backend("numpy"):
        numpy_result = ops.dropout(x, so, 0.5, False, True)
    assert ran == [1]
    assert all(torch.equal(a, b) for a, b in zip(native, numpy_result))


def test_dropout_refusals_after_a_cached_signature():
    x, so = _x(6, 4), seed_offset(3)
    ops.dropout(x, so, 0.5, False, True)
    ops.dropout(x, so, 0.5, False, True)
    with pytest.raises(ValueError, match="C-contiguous"):
        ops.dropout(_x(4, 6).T, so, 0.5, False, True)   # x's shape and dtype, other strides
    with pytest.raises(ValueError, match="p"):
        ops.dropout(x, so, 1.5, False, True)


_NOT_REAL = [(float("nan"), ValueError), (float("inf"), ValueError), (True, TypeError), ("0.5", TypeError),
             (np.float32(0.5), None)]


_SCALAR_CHECKS = ([(F.dropout, "p", v, e) for v, e in _NOT_REAL + [(-0.25, ValueError), (1.5, ValueError), (1, None)]]
                  + [(F.gaussian_noise, "std", v, e) for v, e in _NOT_REAL + [(-1.0, ValueError), (2.5, None)]])


@pytest.mark.parametrize("fn, name, value, exc", _SCALAR_CHECKS)
def test_functional_scalar_checks_refuse_what_the_array_api_refuses(fn, name, value, exc):
    """dropout's p (a probability) and gaussian_noise's std (>= 0): what the array API refuses is
    refused by the functional layer's own checks, before the stream draw."""
    if exc is None:   # accepted, as the array API accepts it
        fn(_x(4, 4), value)
        return
    state = torch.get_rng_state()
    with pytest.raises(exc, match=f"^{name}\\b"):
        fn(_x(4, 4), value)
    assert torch.equal(torch.get_rng_state(), state)   # refused before the draw


def test_functional_checks_name_what_is_not_a_float_tensor():
    with pytest.raises(TypeError, match="input"):
        F.dropout(torch.zeros(4, dtype=torch.int32), 0.5)
    with pytest.raises(TypeError, match="input"):
        F.layer_norm(torch.zeros(2, 4).to_sparse(), (4,))
    with pytest.raises(TypeError, match="input"):
        F.dropout(np.zeros(4), 0.5)


def test_eager_cpu_calls_run_the_backend_kernel_without_a_second_dispatch(monkeypatch):
    """Below autograd, an eager CPU call's next key is the CPU kernel, which the autograd kernel
    calls itself; with a dispatch mode in the way (as under tracing) it redispatches, and the
    mode sees the operator."""
    from torch.utils._python_dispatch import TorchDispatchMode

    redispatched = []
    below = torch._C._AutoDispatchBelowAutograd
    monkeypatch.setattr(torch._C, "_AutoDispatchBelowAutograd", lambda: redispatched.append(1) or below())
    x, w, b = _x(3, 5).requires_grad_(), _x(5, seed=1), _x(5, seed=2)
    y = F.layer_norm(x, (5,), w, b)
    F.dropout(x, 0.5)
    assert redispatched == []

    class Seen(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(str(func))
            return func(*args, **(kwargs or {}))

    with Seen() as seen:
        y2 = F.layer_norm(x, (5,), w, b)
    assert redispatched and "regcore.layer_norm.default" in seen.ops
    assert torch.equal(y, y2)
