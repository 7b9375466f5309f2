"""One test per finding of the hostile-input sweep (tests/test_hostile_api.py), each failing before
its fix: the error names the argument the caller passed, nothing is written, and the call does
not hang or overflow."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from _hostile_table import _bn, _norm, arr, pos


def test_alpha_coefficients_checks_p_and_dtype():
    with pytest.raises(ValueError, match=r"^p: "):
        rc.alpha_coefficients(float("inf"), np.float32)          # was OverflowError
    with pytest.raises(ValueError, match=r"^p: "):
        rc.alpha_coefficients(1.5, np.float32)                   # was accepted
    with pytest.raises(TypeError, match=r"^dtype: "):
        rc.alpha_coefficients(0.5, np.int32)                     # was accepted
    a, b, d = rc.alpha_coefficients(0.25, np.float64)
    assert a.dtype == np.float64


@pytest.mark.parametrize("which", ["gamma", "beta"])
@pytest.mark.parametrize("call", ["batch_norm", "instance_norm", "batch_norm_apply"])
def test_running_statistics_sharing_memory_with_an_input_are_refused(call, which):
    x = arr((4, 3, 5))
    rm, rv = arr((3,), k=2), pos((3,), k=3)
    kw = dict(gamma=pos((3,)), beta=arr((3,), k=1), running_mean=rm, running_var=rv)
    kw[which] = rm                                                # gamma or beta is the running mean
    before = rm.copy()
    args = (x, rc.batch_norm_stats(x)) if call == "batch_norm_apply" else (x,)
    with pytest.raises(ValueError, match=rf"^(running_mean and {which}|{which} and running_mean): "):
        getattr(rc, call)(*args, **kw)
    np.testing.assert_array_equal(rm, before)
    buf = np.zeros(3 * 4 * 5 + 1, np.float32)                    # x overlapping running_var
    xs = buf[:60].reshape(4, 3, 5)
    xs[...] = x
    with pytest.raises(ValueError, match=r"running_var"):
        getattr(rc, call)(xs, *args[1:], running_mean=arr((3,)), running_var=buf[58:61])


@pytest.mark.parametrize("kind", ["batch_norm", "layer_norm", "group_norm", "instance_norm"])
@pytest.mark.parametrize("field, bad, err", [
    ("rstd", lambda a: a.astype(np.float32), TypeError),
    ("rstd", lambda a: a[:0], ValueError),
    ("mean", lambda a: list(a), TypeError),
    ("var", lambda a: a[::-1], ValueError),
])
def test_tampered_saved_state_is_refused_naming_the_field(kind, field, bad, err):
    if kind == "batch_norm":
        x, g, b, saved = _bn()
    else:
        x, g, b, saved = _norm(kind)
    setattr(saved, field, bad(getattr(saved, field)))
    with pytest.raises(err, match=rf"^saved\.{field}: "):
        getattr(rc, f"{kind}_backward")(arr(x.shape, k=5), x, g, saved)


def test_seed_and_reserve_name_their_arguments():
    with pytest.raises(TypeError, match=r"^value: "):
        rc.seed(1.5)
    g = rc.Generator(1)
    with pytest.raises(ValueError, match=r"^blocks: "):
        g.reserve(-5)                                            # used to rewind the counter
    with pytest.raises(TypeError, match=r"^blocks: "):
        g.reserve("1")
    with pytest.raises(ValueError, match=r"^blocks: "):
        g.reserve(10**400)
    assert g.offset == 0


def test_early_stopping_improves_checks_its_value():
    es = rc.EarlyStopping()
    with pytest.raises(TypeError, match=r"^value: "):
        es.improves("0.5")                                       # was compared as float("0.5")
    with pytest.raises(ValueError, match=r"^value: "):
        es.step(10**400)                                         # was OverflowError


def test_read_only_stored_masks_are_accepted_by_the_backward_passes():
    # a mask kept on disk (np.load(mmap_mode="r")) is only read by backward
    x = arr((4, 6))
    for fwd, bwd in ((rc.dropout, rc.dropout_backward), (rc.alpha_dropout, rc.alpha_dropout_backward),
                     (rc.channel_dropout, rc.channel_dropout_backward),
                     (rc.feature_alpha_dropout, rc.feature_alpha_dropout_backward)):
        xx = arr((2, 3, 4)) if "channel" in fwd.__name__ or "feature" in fwd.__name__ else x
        y, m = fwd(xx, 0.4, generator=rc.Generator(2))
        want = bwd(np.ones_like(xx), m)
        m.bits = m.bits.copy()
        m.bits.flags.writeable = False
        np.testing.assert_array_equal(bwd(np.ones_like(xx), m), want)


def test_bias_act_dropout_backward_checks_the_state_inputs():
    y, st = rc.bias_act_dropout(arr((4, 6)), arr((6,), k=1), "gelu", 0.3, generator=rc.Generator(1))
    st.bias = np.ones((), np.float32)                            # was IndexError
    with pytest.raises(ValueError, match=r"^state\.bias: "):
        rc.bias_act_dropout_backward(arr((4, 6), k=2), st)


def test_like_is_checked_before_allocating():
    g = rc.Generator(1)
    for call in (lambda: rc.random.normal((3,), like=5, generator=g), lambda: rc.init.zeros((3,), like="x"),
                 lambda: rc.init.xavier_uniform((3, 2), like=[1.0], generator=g)):
        with pytest.raises(TypeError, match=r"^like: "):
            call()
    assert g.offset == 0


def test_shapes_beyond_the_address_space_are_named():
    with pytest.raises(ValueError, match=r"^shape: "):
        rc.init.zeros((2**40, 2**40))                            # was NumPy's unnamed error
    with pytest.raises(ValueError, match=r"^shape: "):
        rc.random.normal((10**400,))


def test_xavier_gain_too_large_for_the_dtype_names_gain():
    with pytest.raises(ValueError, match=r"^gain: "):
        rc.init.xavier_uniform_(np.zeros((3, 2), np.float32), gain=1e300)   # blamed "a"
    with pytest.raises(ValueError, match=r"^gain: "):
        rc.init.xavier_normal((3, 2), gain=1e300)                           # blamed "std"


def test_mc_dropout_samples_bounded_and_result_named():
    x = arr((2, 3))
    with pytest.raises(ValueError, match=r"^samples: "):
        rc.mc_dropout(lambda x, g: x, x, samples=10**400)        # used to loop for ever
    with pytest.raises(TypeError, match=r"^forward_fn: its result: "):
        rc.mc_dropout(lambda x, g: x.astype(np.int32), x, samples=2)


def test_preprocess_refuses_masked_arrays_and_names_z():
    X = arr((12, 4), np.float64)
    with pytest.raises(TypeError, match=r"^X: "):
        rc.preprocess.StandardScaler().fit(np.ma.masked_array(X, mask=X > 1))   # mask was dropped
    pca = rc.preprocess.PCA(2).fit(X)
    with pytest.raises(ValueError, match=r"^Z: "):
        pca.inverse_transform(arr((3, 4), np.float64))


def test_remaining_wording_gaps():
    with pytest.raises(TypeError, match=r"^named_params: "):
        rc.optim.split_decay_groups(5)
    with pytest.raises(ValueError, match=r"^n_averaged: "):
        rc.swa_update_([arr((3,))], [arr((3,), k=1)], 10**400)   # was OverflowError
    with pytest.raises(TypeError, match=r"^lrr: "):
        rc.optim.SGD([arr((3,))], lrr=0.1)                       # was "SGD: ..."


@pytest.mark.parametrize("fwd, bwd", [(rc.dropout, rc.dropout_backward),
                                      (rc.channel_dropout, rc.channel_dropout_backward)])
@pytest.mark.parametrize("shape, err", [(None, TypeError), ((2.0, 3), TypeError), ((2, -1), ValueError),
                                        ((10**400,), ValueError)])
def test_tampered_mask_shape_is_refused_naming_it(fwd, bwd, shape, err):
    x = arr((2, 3, 4))
    y, m = fwd(x, 0.4, generator=rc.Generator(1))
    m.shape = shape                                              # was IndexError / unnamed TypeError
    with pytest.raises(err, match=r"^mask\.shape"):
        bwd(np.ones_like(x), m)
