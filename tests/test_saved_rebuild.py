"""Array-API additions made for regcore.torch (each usable on its own):

* batch_norm_saved / layer_norm_saved / group_norm_saved / instance_norm_saved rebuild a
  forward's saved state from its statistics: the backward gives the SAME BITS as with the
  original state, on every CPU backend;
* batch_norm_backward_apply(red_local=): dgamma/dbeta as a rank's share (they sum to the global);
* sgd_step_multi_(fresh_buffers=): a caller-allocated buffer started as a None buffer would be;
* dropout-family calls at p = 0 or p = 1 consume no counter blocks."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc


def _a(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _same(a, b):
    for x, y in zip(a, b):
        if x is None:
            assert y is None
        else:
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("shape,axis", [((6, 4), 1), ((3, 4, 5), 1), ((2, 3, 3, 4), -1)])
def test_batch_norm_saved_gives_the_same_backward(backend, dtype, training, activation, shape, axis):
    C = shape[axis]
    x, dy = _a(*shape, dtype=dtype), _a(*shape, seed=1, dtype=dtype)
    g, b = _a(C, seed=2, dtype=dtype), _a(C, seed=3, dtype=dtype)
    rm, rv = _a(C, seed=4, dtype=dtype), np.abs(_a(C, seed=5, dtype=dtype)) + 0.5
    y, saved = rc.batch_norm(x, g, b, rm, rv, training=training, axis=axis, activation=activation, eps=1e-3)
    rebuilt = rc.batch_norm_saved(x, saved.mean, saved.var, g, b, eps=1e-3, axis=axis, activation=activation,
                                  batch_stats=training)
    _same(rc.batch_norm_backward(dy, x, g, saved), rc.batch_norm_backward(dy, x, g, rebuilt))
    _same(rc.batch_norm_backward(dy, x, None, rc.batch_norm(x, axis=axis)[1]),
          rc.batch_norm_backward(dy, x, None, rc.batch_norm_saved(x, *_mv(rc.batch_norm(x, axis=axis)[1]), axis=axis)))


def _mv(saved):
    return saved.mean, saved.var


def test_norm_saved_rebuilds_give_the_same_backward(backend):
    x, dy = _a(3, 4, 2, 5), _a(3, 4, 2, 5, seed=1)
    g4, b4 = _a(4, seed=2), _a(4, seed=3)
    gl, bl = _a(2, 5, seed=2), _a(2, 5, seed=3)
    y, s = rc.layer_norm(x, gl, bl, axes=(-2, -1))
    _same(rc.layer_norm_backward(dy, x, gl, s),
          rc.layer_norm_backward(dy, x, gl, rc.layer_norm_saved(x, s.mean, s.var, gl, bl, axes=(-2, -1))))
    y, s = rc.group_norm(x, 2, g4, b4, eps=1e-3)
    _same(rc.group_norm_backward(dy, x, g4, s),
          rc.group_norm_backward(dy, x, g4, rc.group_norm_saved(x, 2, s.mean, s.var, g4, b4, eps=1e-3)))
    rm, rv = _a(4, seed=4), np.abs(_a(4, seed=5)) + 0.5
    for training in (True, False):
        y, s = rc.instance_norm(x, g4, b4, rm.copy(), rv.copy(), training=training)
        rebuilt = rc.instance_norm_saved(x, s.mean, s.var, g4, b4, batch_stats=training)
        _same(rc.instance_norm_backward(dy, x, g4, s), rc.instance_norm_backward(dy, x, g4, rebuilt))


def test_saved_rebuild_refusals():
    x = _a(4, 3)
    with pytest.raises(ValueError, match="mean"):
        rc.batch_norm_saved(x, np.zeros(4), np.ones(3))
    with pytest.raises(TypeError, match="var"):
        rc.batch_norm_saved(x, np.zeros(3), np.ones(3, np.float32))
    with pytest.raises(ValueError, match="count"):
        rc.batch_norm_saved(x, np.zeros(3), np.ones(3), count=0)
    with pytest.raises(ValueError, match="mean"):
        rc.layer_norm_saved(x, np.zeros(3), np.ones(4))
    with pytest.raises(ValueError, match="groups"):
        rc.group_norm_saved(_a(2, 4, 3), 3, np.zeros(6), np.ones(6))
    with pytest.raises(ValueError, match="var"):
        rc.instance_norm_saved(_a(2, 4, 3), np.zeros(8), np.ones(4))


def test_red_local_gives_each_ranks_share():
    x, dy, g, b = _a(10, 3, 4), _a(10, 3, 4, seed=1), _a(3, seed=2), _a(3, seed=3)
    _, whole = rc.batch_norm(x, g, b)
    ref = rc.batch_norm_backward(dy, x, g, whole)
    parts = [(x[:4], dy[:4]), (x[4:], dy[4:])]
    total = rc.merge_stats([rc.batch_norm_stats(p) for p, _ in parts])
    saved = [rc.batch_norm_apply(p, total, g, b)[1] for p, _ in parts]
    reds = [rc.batch_norm_backward_reduce(d, p, s) for (p, d), s in zip(parts, saved)]
    red_total = reds[0] + reds[1]
    shares = [rc.batch_norm_backward_apply(d, p, g, s, red_total, red_local=r)
              for (p, d), s, r in zip(parts, saved, reds)]
    np.testing.assert_allclose(np.concatenate([s[0] for s in shares]), ref[0], rtol=1e-12, atol=1e-12)
    for k in (1, 2):
        np.testing.assert_allclose(shares[0][k] + shares[1][k], ref[k], rtol=1e-12, atol=1e-12)
        glob = rc.batch_norm_backward_apply(parts[0][1], parts[0][0], g, saved[0], red_total)[k]
        np.testing.assert_allclose(glob, ref[k], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="red_local"):
        rc.batch_norm_backward_apply(dy, x, g, whole, red_total, red_local=np.zeros((2, 4)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fresh_buffers_start_like_none(backend, dtype):
    ps = [_a(50, 7, dtype=dtype), _a(300, dtype=dtype)]
    gs = [_a(50, 7, seed=1, dtype=dtype), _a(300, seed=2, dtype=dtype)]
    kw = dict(lr=0.1, momentum=0.9, weight_decay=1e-2, l1=1e-3, nesterov=True)
    ref_p = [p.copy() for p in ps]
    ref_b = rc.sgd_step_multi_(ref_p, gs, None, **kw)
    got_p = [p.copy() for p in ps]
    bufs = [np.full_like(p, np.nan) for p in ps]   # garbage: must be written, never read
    rc.sgd_step_multi_(got_p, gs, bufs, fresh_buffers=True, **kw)
    _same(ref_p, got_p), _same(ref_b, bufs)
    mixed = [ref_b[0].copy(), np.full_like(ps[1], np.nan)]
    a = [p.copy() for p in ps]
    rc.sgd_step_multi_(a, gs, mixed, fresh_buffers=[False, True], **kw)
    b = [p.copy() for p in ps]
    rc.sgd_step_multi_(b[:1], gs[:1], [ref_b[0].copy()], **kw), rc.sgd_step_multi_(b[1:], gs[1:], None, **kw)
    _same(a, b)
    with pytest.raises(ValueError, match="fresh_buffers"):
        rc.sgd_step_multi_([ps[0].copy()], gs[:1], [None], fresh_buffers=True, **kw)
    with pytest.raises(TypeError, match="fresh_buffers"):
        rc.sgd_step_multi_([ps[0].copy()], gs[:1], None, fresh_buffers=[True, False], **kw)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_no_draw_no_counter(backend, p):
    g = rc.Generator(4)
    g.reserve(7)
    x = _a(33, 5, dtype=np.float32)
    y, m = rc.dropout(x, p, generator=g)
    y2, s = rc.bias_act_dropout(x, np.zeros(5, np.float32), "relu", p, generator=g)
    m3 = rc.dropout_(x.copy(), p, generator=g)
    assert g.offset == 7 and m.offset == 7
    np.testing.assert_array_equal(y, x if p == 0 else np.zeros_like(x))
    np.testing.assert_array_equal(rc.dropout_backward(x, m), y)
    np.testing.assert_array_equal(m3.to_numpy(), np.full(x.shape, p == 0))
    rc.dropout(x, 0.5, generator=g)
    assert g.offset == 7 + (x.size + 3) // 4
