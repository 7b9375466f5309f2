"""Aliasing: arrays a call writes (or reads and then writes) that share memory are refused with a
ValueError naming both arguments, before anything is written; the documented in-place forms
(dropout's out=x, dropout_backward's out=dy, bias_act_dropout's out=residual) stay accepted."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import regcore as rc
from regcore import _arrays
from conftest import BACKENDS
from _switches import cpu_backend


def _snapshot(*arrays):
    return [a.copy() for a in arrays]


def _untouched(arrays, copies):
    for a, c in zip(arrays, copies):
        np.testing.assert_array_equal(a.view(np.uint8), c.view(np.uint8))


# ------------------------------------------------------------------ the shared helper

@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 24), a0=st.integers(0, 23), a1=st.integers(0, 24), b0=st.integers(0, 23),
       b1=st.integers(0, 24))
def test_helper_agrees_with_numpy_shares_memory(n, a0, a1, b0, b1):
    buf = np.zeros(24, np.float32)
    a, b = buf[a0:max(a0, a1)], buf[b0:max(b0, b1)]
    ra, rb = _arrays.inspect(a, "a"), _arrays.inspect(b, "b")
    overlap = np.shares_memory(a, b)
    if overlap:
        with pytest.raises(ValueError, match=r"^(a and b|b and a): "):
            _arrays.refuse_overlap((ra, "a"), (rb, "b"))
        with pytest.raises(ValueError):
            _arrays.refuse_overlap((ra, "a"), read=[(rb, "b")])
    else:
        _arrays.refuse_overlap((ra, "a"), (rb, "b"))
        _arrays.refuse_overlap((ra, "a"), read=[(rb, "b")])
    _arrays.refuse_overlap(read=[(ra, "a"), (rb, "b")])   # two read-only arrays may overlap


def test_helper_sweep_keeps_written_and_read_apart():
    big = np.zeros(100, np.float32)
    ref = lambda a, n: (_arrays.inspect(a, n), n)   # noqa: E731
    # reads nested in a longer read: fine, and a written array after them too
    _arrays.refuse_overlap(ref(big[90:100], "w"), read=[ref(big[0:80], "r1"), ref(big[10:20], "r2")])
    # a written array inside the long read span, after a nested read: caught
    with pytest.raises(ValueError, match="r1 and w"):
        _arrays.refuse_overlap(ref(big[30:40], "w"), read=[ref(big[0:80], "r1"), ref(big[10:20], "r2")])
    # a read nested in a long written span, after another written one: caught against the long one
    with pytest.raises(ValueError, match="w1 and w2"):
        _arrays.refuse_overlap(ref(big[0:80], "w1"), ref(big[10:20], "w2"), read=[ref(big[50:60], "r")])
    with pytest.raises(ValueError, match="w1 and r"):
        _arrays.refuse_overlap(ref(big[0:80], "w1"), read=[ref(big[5:6], "r0"), ref(big[50:60], "r")][1:])


def test_helper_allows_only_the_exact_in_place_pair():
    buf = np.zeros(10, np.float32)
    ro, rx = _arrays.inspect(buf, "out"), _arrays.inspect(buf, "x")
    _arrays.refuse_overlap((ro, "out"), read=[(rx, "x")], allow=[("out", "x")])
    part = _arrays.inspect(buf[1:], "x")
    with pytest.raises(ValueError, match="out and x"):
        _arrays.refuse_overlap((ro, "out"), read=[(part, "x")], allow=[("out", "x")])
    # zero-size arrays hold no byte
    _arrays.refuse_overlap((ro, "out"), (_arrays.inspect(buf[3:3], "e"), "e"))


# ------------------------------------------------------------------ batch norm / instance norm

def _bn_inputs(C=4):
    rng = np.random.default_rng(0)
    return rng.standard_normal((3, C, 5)).astype(np.float32)


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("how", ["same", "overlap"])
def test_batch_norm_running_stats_aliasing_refused(be, how):
    x = _bn_inputs()
    buf = np.ones(8, np.float32)
    rm, rv = (buf[:4], buf[:4]) if how == "same" else (buf[0:4], buf[2:6])
    copies = _snapshot(buf, x)
    with cpu_backend(be):
        with pytest.raises(ValueError, match=r"^running_mean and running_var: "):
            rc.batch_norm(x, running_mean=rm, running_var=rv, training=True)
        stats = rc.batch_norm_stats(x)
        with pytest.raises(ValueError, match=r"^running_mean and running_var: "):
            rc.batch_norm_apply(x, stats, running_mean=rm, running_var=rv)
        with pytest.raises(ValueError, match=r"^running_mean and running_var: "):
            rc.instance_norm(x, running_mean=rm, running_var=rv, training=True)
        # neighbouring views of one buffer are fine
        rc.batch_norm(x, running_mean=buf[0:4], running_var=buf[4:8], training=True)
    _untouched([x], copies[1:])


def test_batch_norm_running_stats_aliasing_refused_on_torch_tensors():
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(_bn_inputs())
    buf = torch.ones(8)
    before = buf.clone()
    with pytest.raises(ValueError, match=r"^running_mean and running_var: "):
        rc.batch_norm(x, running_mean=buf[0:4], running_var=buf[1:5], training=True)
    assert torch.equal(buf, before)


# ------------------------------------------------------------------ SGD

@pytest.mark.parametrize("be", BACKENDS)
def test_sgd_grad_overlapping_param_refused(be):
    flat = np.arange(12, dtype=np.float32)
    copy = flat.copy()
    with cpu_backend(be):
        with pytest.raises(ValueError, match=r"^param and grad: .*overlapping memory"):
            rc.sgd_step_(flat[0:6], flat[3:9], None, lr=0.1)
        with pytest.raises(ValueError, match=r"^(param and grad|grad and param): .*the same array"):
            rc.sgd_step_(flat[0:6], flat[0:6], None, lr=0.1)
        with pytest.raises(ValueError, match=r"params\[0\] and grads\[1\]: "):
            rc.sgd_step_multi_([flat[0:4], np.zeros(4, np.float32)], [np.ones(4, np.float32), flat[2:6]],
                               None, lr=0.1)
        # gradients only read may share memory with each other
        g = np.ones(4, np.float32)
        rc.sgd_step_multi_([np.zeros(4, np.float32), np.zeros(4, np.float32)], [g, g], None, lr=0.1)
    np.testing.assert_array_equal(flat, copy)


def test_sgd_optimizer_momentum_buf_overlapping_param_refused():
    from regcore.optim import SGD

    w = np.zeros(8, np.float32)
    opt = SGD([w[:4]], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"^params\[0\] and grads\[0\]: "):
        opt.step([w[2:6]])
    assert opt.step_count == 0
    np.testing.assert_array_equal(w, 0)


def test_sgd_torch_tensors_grad_overlapping_param_refused():
    torch = pytest.importorskip("torch")
    flat = torch.arange(12, dtype=torch.float32)
    before = flat.clone()
    with pytest.raises(ValueError, match=r"^param and grad: "):
        rc.sgd_step_(flat[0:6], flat[3:9], None, lr=0.1)
    assert torch.equal(flat, before)


# ------------------------------------------------------------------ dropout out=

@pytest.mark.parametrize("be", BACKENDS)
def test_dropout_out_overlap_names_both_arguments(be):
    buf = np.ones(20, np.float32)
    copy = buf.copy()
    with cpu_backend(be):
        with pytest.raises(ValueError, match=r"^(out and x|x and out): .*overlapping memory"):
            rc.dropout(buf[0:10], 0.5, out=buf[5:15], generator=rc.Generator(1))
        x = np.ones(10, np.float32)
        b = np.zeros(10, np.float32)
        with pytest.raises(ValueError, match=r"^(out and x|x and out): .*the same array"):
            rc.bias_act_dropout(x[None, :], b, p=0.5, out=x[None, :], generator=rc.Generator(1))
        # the documented in-place form
        y, _ = rc.dropout(x, 0.5, out=x, generator=rc.Generator(1))
        assert y is x
    np.testing.assert_array_equal(buf, copy)
