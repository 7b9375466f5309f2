"""Every error names the argument the caller passed (issue: error-wording gaps)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import regcore as rc


def test_huge_integer_hyper_parameter_is_a_value_error():
    x = np.ones(8, np.float32)
    with pytest.raises(ValueError, match=r"^p: "):
        rc.dropout(x, p=10**400)
    with pytest.raises(ValueError, match=r"^lr: "):
        rc.sgd_step_(np.ones(3, np.float32), np.ones(3, np.float32), lr=10**400)
    with pytest.raises(ValueError, match=r"^std: "):
        rc.random.normal((4,), std=-(10**400))


@pytest.mark.parametrize("call, name", [
    (lambda: rc.random.normal((4,), std=1e300, dtype=np.float32), "std"),
    (lambda: rc.random.normal((4,), mean=-1e39, dtype=np.float32), "mean"),
    (lambda: rc.random.uniform((4,), 0.0, 1e39, dtype=np.float32), "high"),
    (lambda: rc.init.normal_(np.ones(4, np.float32), std=1e300), "std"),
    (lambda: rc.init.uniform_(np.ones(4, np.float32), -1e39, 0.0), "a"),
])
def test_hyper_parameters_that_overflow_float32_are_refused(call, name):
    with pytest.raises(ValueError, match=rf"^{name}: .*representable in float32"):
        call()
    rc.random.normal((4,), std=1e300, dtype=np.float64)   # fine in float64


def test_init_uniform_errors_name_a_and_b():
    x = np.ones(4, np.float32)
    with pytest.raises(ValueError, match=r"^b: .*> a=2"):
        rc.init.uniform_(x, 2.0, 1.0)
    with pytest.raises(ValueError, match=r"^a: "):
        rc.init.uniform_(x, float("nan"), 1.0)
    with pytest.raises(ValueError, match=r"^b: "):
        rc.init.uniform_(x, 0.0, float("inf"))


def test_batch_norm_apply_blames_stats_for_its_count():
    x = np.ones((1, 2, 1), np.float32)
    stats = np.array([[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match=r"^stats: .*1 values per channel"):
        rc.batch_norm_apply(x, stats)


def test_set_isa_errors_name_level():
    with pytest.raises(ValueError, match=r"^level: "):
        rc.set_isa("bogus")
    with pytest.raises(TypeError, match=r"^level: "):
        rc.set_isa(3)


def test_masked_array_refused_naming_the_argument():
    x = np.ma.masked_array(np.ones(8, np.float32), mask=[1, 0] * 4)
    before = x.data.copy()
    with pytest.raises(TypeError, match=r"^x: .*MaskedArray"):
        rc.dropout(x, 0.5)
    with pytest.raises(TypeError, match=r"^x: .*MaskedArray"):
        rc.init.normal_(x)
    with pytest.raises(TypeError, match=r"^param: .*MaskedArray"):
        rc.sgd_step_(x, np.ones(8, np.float32))
    np.testing.assert_array_equal(x.data, before)


def test_dtype_none_is_refused_not_float64():
    with pytest.raises(TypeError, match=r"^dtype: .*omit the argument"):
        rc.random.normal((4,), dtype=None)
    with pytest.raises(TypeError, match=r"^dtype: "):
        rc.init.normal((4,), dtype=None)
    assert rc.random.normal((4,)).dtype == np.float32


def test_bogus_backend_environment_fails_at_import():
    env = dict(os.environ, REGCORE_BACKEND="bogus")
    r = subprocess.run([sys.executable, "-c", "import regcore"], env=env, capture_output=True, text=True)
    assert r.returncode != 0
    assert "REGCORE_BACKEND=bogus: expected one of 'numpy', 'cpu'" in r.stderr


def test_sparse_validates_before_consuming_generator_counter_space():
    g = rc.Generator(1)
    x = np.ones((4, 4), np.float32)
    for kw in (dict(k=5), dict(k=-1), dict(k=2, std=-1.0), dict(k=2, std=float("nan")),
               dict(k=2, std=1e300), dict(k=2, layout="bogus")):
        before, offset = x.copy(), g.offset
        with pytest.raises((TypeError, ValueError)):
            rc.init.sparse_(x, generator=g, **kw)
        assert g.offset == offset, kw
        np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("field, value, name", [
    ("bits", np.zeros(1, np.uint32), r"mask\.bits"),
    ("bits", np.zeros(2, np.float32), r"mask\.bits"),
    ("bits", None, r"mask\.bits"),
    ("bits", "not an array", r"mask\.bits"),
    ("bytes", np.zeros(64, np.uint8), r"mask\.bytes"),
    ("kind", "q", r"mask\.kind"),
    ("seed", -1, r"mask\.seed"),
    ("offset", "a", r"mask\.offset"),
])
def test_tampered_mask_is_refused_naming_the_mask(field, value, name):
    x = np.ones(64, np.float32)
    _, m = rc.dropout(x, 0.5, generator=rc.Generator(1))
    setattr(m, field, value)
    dy = np.ones(64, np.float32)
    with pytest.raises((TypeError, ValueError), match=rf"^{name}: "):
        rc.dropout_backward(dy, m)


def test_sgd_16_bit_refusals_name_the_arguments():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    w = np.ones(4, ml_dtypes.bfloat16)
    with pytest.raises(TypeError, match=r"^grad: expected the dtype of param \(bfloat16\), got 'dtype float16'"):
        rc.sgd_step_(w, np.ones(4, np.float16))
    with pytest.raises(TypeError, match=r"^momentum_buf: expected float32 \(the arithmetic type of param"):
        rc.sgd_step_(w, np.ones(4, ml_dtypes.bfloat16), np.zeros(4, np.float16))
    with pytest.raises(TypeError, match=r"^master_params\[0\]: expected an array of dtype float32"):
        rc.sgd_step_multi_([w], [np.ones(4, ml_dtypes.bfloat16)], master_params=[np.ones(4, np.float16)])


def test_averaging_16_bit_refusals_name_both_arguments():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    p = np.ones(4, ml_dtypes.bfloat16)
    with pytest.raises(TypeError, match=r"^params\[0\]: expected the dtype of averages\[0\] \(float32\) or bfloat16 "
                                        r"or float16, got 'dtype float64'$"):
        rc.ema_update_([np.zeros(4, np.float32)], [np.ones(4)], 0.9)
    with pytest.raises(TypeError, match=r"^params\[0\]: expected the dtype of averages\[0\] \(float64\), "
                                        r"got 'dtype bfloat16'$"):
        rc.ema_update_([np.zeros(4, np.float64)], [p], 0.9)
    with pytest.raises(TypeError, match=r"^params\[0\]: expected the dtype of averages\[0\] \(float16\), "
                                        r"got 'dtype bfloat16'$"):
        rc.swa_update_([np.zeros(4, np.float16)], [p], 1)


def test_a_foreign_generator_is_named_with_its_library():
    # numpy's and torch's generators are also called "Generator": "expected a regcore.Generator
    # ..., got Generator" read as a contradiction
    x = np.ones(4, np.float32)
    with pytest.raises(TypeError, match=r"^generator: .*got numpy\.Generator$"):
        rc.dropout(x, 0.3, generator=np.random.default_rng(0))
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"^generator: .*got torch\.Generator$"):
        rc.init.normal((3,), generator=torch.Generator())
    with pytest.raises(TypeError, match=r"^generator: .*got int$"):
        rc.dropout(x, 0.3, generator=3)
