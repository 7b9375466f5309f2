"""out= on dropout, dropout_backward, bias_act_dropout and bias_act_dropout_backward: the same
bits as a fresh output, the allowed in-place aliases, and every bad out rejected with nothing
written and the generator untouched."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from _dropout_oracle import backend, cfg_id, configs

CONFIGS = configs()


def data(shape=(7, 45), dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_out_matches_fresh(cfg, dtype):
    x, dy, r = data(dtype=dtype), data(dtype=dtype, seed=1), data(dtype=dtype, seed=2)
    b = data((45,), dtype, 3)
    with backend(cfg):
        y0, m0 = rc.dropout(x, 0.3, generator=rc.Generator(4))
        out = np.full_like(x, 7)
        y1, m1 = rc.dropout(x, 0.3, generator=rc.Generator(4), out=out)
        assert y1 is out
        np.testing.assert_array_equal(y1, y0)
        dx0 = rc.dropout_backward(dy, m0)
        out = np.full_like(x, 7)
        assert rc.dropout_backward(dy, m1, out=out) is out
        np.testing.assert_array_equal(out, dx0)
        for name in ("relu", "gelu"):
            y0, s0 = rc.bias_act_dropout(x, b, name, 0.2, residual=r, generator=rc.Generator(5))
            out = np.full_like(x, 7)
            y1, s1 = rc.bias_act_dropout(x, b, name, 0.2, residual=r, generator=rc.Generator(5), out=out)
            assert y1 is out
            np.testing.assert_array_equal(y1, y0)
            g0 = rc.bias_act_dropout_backward(dy, s0)
            out = np.full_like(x, 7)
            g1 = rc.bias_act_dropout_backward(dy, s1, out=out)
            assert g1[0] is out and g1[2] is dy
            np.testing.assert_array_equal(g1[0], g0[0])
            np.testing.assert_array_equal(g1[1], g0[1])


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_in_place_aliases(cfg):
    x, dy, r = data(), data(seed=1), data(seed=2)
    b = data((45,), seed=3)
    with backend(cfg):
        y0, m = rc.dropout(x, 0.5, generator=rc.Generator(6))
        xc = x.copy()
        assert rc.dropout(xc, 0.5, generator=rc.Generator(6), out=xc)[0] is xc
        np.testing.assert_array_equal(xc, y0)
        dx0 = rc.dropout_backward(dy, m)
        dyc = dy.copy()
        rc.dropout_backward(dyc, m, out=dyc)
        np.testing.assert_array_equal(dyc, dx0)
        y0, s = rc.bias_act_dropout(x, b, "gelu_tanh", 0.5, residual=r, generator=rc.Generator(7))
        rc_ = r.copy()
        rc.bias_act_dropout(x, b, "gelu_tanh", 0.5, residual=rc_, generator=rc.Generator(7), out=rc_)
        np.testing.assert_array_equal(rc_, y0)
        _, s2 = rc.bias_act_dropout(x, b, "tanh", 0.5, generator=rc.Generator(8))
        g0 = rc.bias_act_dropout_backward(dy, s2)
        dyc = dy.copy()
        g1 = rc.bias_act_dropout_backward(dyc, s2, out=dyc)
        assert g1[0] is dyc
        np.testing.assert_array_equal(dyc, g0[0])
        np.testing.assert_array_equal(g1[1], g0[1])


def bad_outs(x):
    big = np.zeros((x.shape[0] + 1,) + x.shape[1:], x.dtype)
    ro = np.zeros_like(x)
    ro.flags.writeable = False
    return [
        (np.zeros(x.shape, np.float64 if x.dtype == np.float32 else np.float32), TypeError),
        (np.zeros(x.shape, np.int32), TypeError),
        (np.zeros((x.shape[0], x.shape[1] + 1), x.dtype), ValueError),
        (np.zeros(x.shape[::-1], x.dtype).T, ValueError),   # Fortran order
        (ro, ValueError),
        (big[1:], None),                                     # fine: its own memory (sanity)
        ([[0.0]], TypeError),
    ]


@pytest.mark.parametrize("cfg", CONFIGS, ids=cfg_id)
def test_bad_out(cfg):
    x, dy = data(), data(seed=1)
    b = data((45,), seed=3)
    with backend(cfg):
        _, m = rc.dropout(x, 0.5, generator=rc.Generator(1))
        _, s = rc.bias_act_dropout(x, b, "relu", 0.5, generator=rc.Generator(1))
        _, sr = rc.bias_act_dropout(x, b, "relu", 0.5, residual=dy, generator=rc.Generator(1))
        calls = [lambda g, o: rc.dropout(x, 0.5, generator=g, out=o),
                 lambda g, o: rc.dropout_backward(dy, m, out=o),
                 lambda g, o: rc.bias_act_dropout(x, b, "relu", 0.5, generator=g, out=o),
                 lambda g, o: rc.bias_act_dropout_backward(dy, s, out=o)]
        for call in calls:
            for out, err in bad_outs(x):
                if err is None:
                    continue
                g = rc.Generator(2)
                before = np.array(out, copy=True)
                with pytest.raises(err, match="out"):
                    call(g, out)
                np.testing.assert_array_equal(np.asarray(out), before)
                assert g.state == rc.Generator(2).state
        # Overlaps: a shifted view of the input; x itself where only the residual/dy may be.
        xx = np.concatenate([x.ravel(), x.ravel()[:45]])
        xin = xx[:x.size].reshape(x.shape)
        shifted = xx[45:].reshape(x.shape)
        keep_x, keep_dy = x.copy(), dy.copy()
        for call in [lambda: rc.dropout(xin, 0.5, generator=rc.Generator(2), out=shifted),
                     lambda: rc.bias_act_dropout(x, b, "relu", 0.5, generator=rc.Generator(2), out=x),
                     lambda: rc.bias_act_dropout_backward(dy, s, out=x),
                     lambda: rc.bias_act_dropout_backward(dy, sr, out=dy)]:
            snapshot = xx.copy()
            with pytest.raises(ValueError, match="out"):
                call()
            np.testing.assert_array_equal(xx, snapshot)
        np.testing.assert_array_equal(x, keep_x)
        np.testing.assert_array_equal(dy, keep_dy)
