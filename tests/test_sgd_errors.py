"""Bad input to the SGD family: TypeError/ValueError naming the tensor and the argument, and
nothing written (every parameter and buffer of a multi-tensor call is left as it was)."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

import regcore as rc

BACKENDS = ["numpy"] + (["cpu"] if rc.available_isas() else [])


@contextlib.contextmanager
def backend(name):
    with rc.use_backend(name):
        yield


def fresh(n=3):
    rng = np.random.default_rng(0)
    ws = [rng.standard_normal((4, 5)).astype(np.float32) for _ in range(n)]
    gs = [rng.standard_normal((4, 5)).astype(np.float32) for _ in range(n)]
    bs = [rng.standard_normal((4, 5)).astype(np.float32) for _ in range(n)]
    return ws, gs, bs


BAD_HYPER = [
    (dict(lr=0.0), ValueError, "lr"),
    (dict(lr=-1.0), ValueError, "lr"),
    (dict(lr=float("nan")), ValueError, "lr"),
    (dict(lr="0.1"), TypeError, "lr"),
    (dict(momentum=1.0), ValueError, "momentum"),
    (dict(momentum=-0.1), ValueError, "momentum"),
    (dict(momentum=float("nan")), ValueError, "momentum"),
    (dict(dampening=1.5), ValueError, "dampening"),
    (dict(momentum=0.0, nesterov=True), ValueError, "nesterov"),
    (dict(momentum=0.9, dampening=0.1, nesterov=True), ValueError, "nesterov"),
    (dict(nesterov=1), TypeError, "nesterov"),
    (dict(weight_decay=-1e-3), ValueError, "weight_decay"),
    (dict(weight_decay=float("nan")), ValueError, "weight_decay"),
    (dict(decoupled_weight_decay=-1.0), ValueError, "decoupled_weight_decay"),
    (dict(decoupled_weight_decay=20.0), ValueError, "decoupled_weight_decay"),
    (dict(l1=-0.1), ValueError, "l1"),
    (dict(l1=float("nan")), ValueError, "l1"),
    (dict(l1_mode="lasso"), ValueError, "l1_mode"),
    (dict(max_norm=0.0), ValueError, "max_norm"),
    (dict(max_norm=-1.0), ValueError, "max_norm"),
    (dict(max_norm=float("nan")), ValueError, "max_norm"),
    (dict(max_norm=1.0, max_norm_axis=2), ValueError, "max_norm_axis"),
    (dict(max_norm=1.0, max_norm_axis=1.0), TypeError, "max_norm_axis"),
    (dict(maximize="yes"), TypeError, "maximize"),
]


def assert_untouched(arrays, copies):
    for a, c in zip(arrays, copies):
        assert np.array_equal(a.view(np.uint8), c.view(np.uint8))


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("kw,exc,name", BAD_HYPER, ids=[f"{i}-{c[2]}" for i, c in enumerate(BAD_HYPER)])
def test_bad_hyper_parameters(be, kw, exc, name):
    ws, gs, bs = fresh()
    copies = [x.copy() for x in ws + bs]
    opts = dict(lr=0.1, momentum=0.9, **{k: v for k, v in kw.items() if k not in ("lr", "momentum")})
    opts.update({k: v for k, v in kw.items() if k in ("lr", "momentum")})
    with backend(be):
        with pytest.raises(exc, match=rf"^{name}: "):
            rc.sgd_step_(ws[0], gs[0], bs[0], **opts)
        with pytest.raises(exc, match=rf"^{name}: "):
            rc.sgd_step_multi_(ws, gs, bs, **opts)
        with pytest.raises(exc, match=name):
            rc.optim.SGD(ws, **opts)
    assert_untouched(ws + bs, copies)


def _bad_tensor_cases():
    rng = np.random.default_rng(1)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    ro = f32(4, 5)
    ro.flags.writeable = False
    ro_b = f32(4, 5)
    ro_b.flags.writeable = False
    return [
        ("grads", f32(4, 6), None, None, ValueError, r"grads\[2\]"),
        ("grads", f32(4, 5).astype(np.float64), None, None, TypeError, r"grads\[2\]"),
        ("grads", np.zeros((4, 5), np.int32), None, None, TypeError, r"grads\[2\]"),
        ("grads", [[1.0]], None, None, TypeError, r"grads\[2\]"),
        ("bufs", f32(5, 4), None, None, ValueError, r"momentum_bufs\[2\]"),
        ("bufs", f32(4, 5).astype(np.float64), None, None, TypeError, r"momentum_bufs\[2\]"),
        ("bufs", ro_b, None, None, ValueError, r"momentum_bufs\[2\]"),
        ("params", ro, None, None, ValueError, r"params\[2\]"),
        ("params", np.asfortranarray(f32(4, 5)), None, None, ValueError, r"params\[2\]"),
        ("params", f32(4, 10)[:, ::2], None, None, ValueError, r"params\[2\]"),
        ("params", np.zeros((4, 5), np.float16), None, None, TypeError, r"params\[2\]"),
    ]


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("case", range(len(_bad_tensor_cases())))
def test_bad_tensor_leaves_every_tensor_untouched(be, case):
    which, bad, _, _, exc, pattern = _bad_tensor_cases()[case]
    ws, gs, bs = fresh()
    copies = [x.copy() for x in ws + bs]
    if which == "params":
        ws[2] = bad
    elif which == "grads":
        gs[2] = bad
    else:
        bs[2] = bad
    with backend(be):
        with pytest.raises(exc, match=pattern):
            rc.sgd_step_multi_(ws, gs, bs, lr=0.1, momentum=0.9, weight_decay=0.1)
    assert_untouched(ws[:2] + bs[:2], copies[:2] + copies[3:5])


@pytest.mark.parametrize("be", BACKENDS)
def test_single_step_names_its_arguments(be):
    ws, gs, bs = fresh(1)
    with backend(be):
        with pytest.raises(ValueError, match=r"^grad: "):
            rc.sgd_step_(ws[0], gs[0][:2], bs[0])
        with pytest.raises(TypeError, match=r"^momentum_buf: "):
            rc.sgd_step_(ws[0], gs[0], bs[0].astype(np.float64))
        with pytest.raises(TypeError, match=r"^param: "):
            rc.sgd_step_([1.0, 2.0], gs[0], bs[0])


@pytest.mark.parametrize("be", BACKENDS)
def test_list_lengths_and_aliasing(be):
    ws, gs, bs = fresh()
    copies = [x.copy() for x in ws + bs]
    with backend(be):
        with pytest.raises(ValueError, match=r"^grads: "):
            rc.sgd_step_multi_(ws, gs[:2], bs)
        with pytest.raises(ValueError, match=r"^momentum_bufs: "):
            rc.sgd_step_multi_(ws, gs, bs[:1])
        with pytest.raises(TypeError, match=r"^params: "):
            rc.sgd_step_multi_(ws[0], gs, bs)
        with pytest.raises(ValueError, match=r"^params\[0\] and params\[1\]: .*the same array"):
            rc.sgd_step_multi_([ws[0], ws[0]], gs[:2], None)
        with pytest.raises(ValueError, match=r"^(params\[0\] and momentum_bufs\[0\]|momentum_bufs\[0\] and params\[0\]): "):
            rc.sgd_step_multi_(ws[:1], gs[:1], [ws[0]])
    assert_untouched(ws + bs, copies)


def test_max_norm_axis_is_checked_on_every_tensor_first():
    ws, gs, bs = fresh()
    ws[2] = np.ones(5, np.float32)
    gs[2] = np.ones(5, np.float32)
    copies = [x.copy() for x in ws]
    with pytest.raises(ValueError, match=r"^max_norm_axis: .*params\[2\]"):
        rc.sgd_step_multi_(ws, gs, None, max_norm=1.0, max_norm_axis=1)
    assert_untouched(ws, copies)


def test_penalty_bad_input():
    with pytest.raises(ValueError, match=r"^l1: "):
        rc.penalty([np.ones(3)], l1=-1)
    with pytest.raises(ValueError, match=r"^l2: "):
        rc.penalty([np.ones(3)], l2=float("nan"))
    with pytest.raises(TypeError, match=r"^params\[1\]: "):
        rc.penalty([np.ones(3), np.ones(3, np.int64)], l1=1)


def test_native_binding_refuses_what_python_would_refuse():
    from regcore import _native

    if _native.cpu is None:
        pytest.skip("native CPU module not built")
    w = np.ones(4, np.float32)
    w.flags.writeable = False
    with pytest.raises(ValueError, match=r"params\[0\]"):
        _native.cpu.sgd_step_multi([w], [np.ones(4, np.float32)], [None], [False], [(0, 0, 0)],
                                   0.1, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0, 0.0)
    with pytest.raises(TypeError, match=r"grads\[0\]"):
        _native.cpu.sgd_step_multi([np.ones(4, np.float32)], [np.ones(4)], [None], [False], [(0, 0, 0)],
                                   0.1, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0, 0.0)


@pytest.mark.parametrize("be", BACKENDS)
def test_overlapping_views_are_refused(be):
    # Views of one buffer that share only part of their bytes would be updated twice by one
    # parallel region; they are refused like identical arrays (neighbouring views are fine).
    flat = np.arange(12, dtype=np.float32)
    g = np.ones(6, np.float32)
    copy = flat.copy()
    with backend(be):
        with pytest.raises(ValueError, match=r"^params\[0\] and params\[1\]: .*overlapping memory"):
            rc.sgd_step_multi_([flat[0:6], flat[3:9]], [g, g], None)
        with pytest.raises(ValueError, match=r"^param and momentum_buf: .*overlapping memory"):
            rc.sgd_step_(flat[0:6], g, flat[5:11])
        assert_untouched([flat], [copy])
        bufs = rc.sgd_step_multi_([flat[0:6], flat[6:12]], [g, g], None)
    assert all(b.shape == (6,) for b in bufs)


class _Sub(np.ndarray):
    """An ndarray subclass: not the plain-NumPy fast path, so the full checks run."""


def test_plain_arrays_and_full_checks_give_the_same_bits():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((7, 33)).astype(np.float32)
    g = rng.standard_normal((7, 33)).astype(np.float32)
    opts = dict(lr=0.05, momentum=0.9, weight_decay=0.01, l1=0.02, max_norm=1.0)
    w1, w2 = w.copy(), w.copy().view(_Sub)
    b1 = rc.sgd_step_(w1, g, None, **opts)
    b2 = rc.sgd_step_(w2, g.view(_Sub), None, **opts)
    b1 = rc.sgd_step_(w1, g, b1, **opts)
    b2 = rc.sgd_step_(w2, g.view(_Sub), b2, **opts)
    assert np.asarray(w1).tobytes() == np.asarray(w2).tobytes()
    assert np.asarray(b1).tobytes() == np.asarray(b2).tobytes()
