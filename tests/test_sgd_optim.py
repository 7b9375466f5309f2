"""regcore.optim.SGD: groups, checkpoint/resume, split_decay_groups, torch.optim.SGD identity,
L1 sparsity (proximal vs subgradient) and max-norm over a run."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from regcore.optim import SGD, split_decay_groups

from _sgd_oracle import oracle_step

BACKENDS = ["numpy"] + (["cpu"] if rc.available_isas() else [])


def model(dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "fc1.weight": rng.standard_normal((8, 5)).astype(dtype),
        "fc1.bias": rng.standard_normal(8).astype(dtype),
        "conv.weight": rng.standard_normal((4, 3, 3, 3)).astype(dtype),
        "norm.weight": rng.standard_normal((6, 6)).astype(dtype),  # 2-D but a norm parameter
        "fc2.weight": rng.standard_normal((3, 8)).astype(dtype),
    }


def grads_for(params, step, seed=1):
    rng = np.random.default_rng(seed + 1000 * step)
    return [rng.standard_normal(p.shape).astype(p.dtype) for p in params]


def test_split_decay_groups():
    m = model()
    groups = split_decay_groups(m)
    assert [len(g["params"]) for g in groups] == [3, 2]
    assert groups[0]["param_names"] == ["fc1.weight", "conv.weight", "fc2.weight"]
    assert groups[1]["param_names"] == ["fc1.bias", "norm.weight"]
    assert groups[1]["weight_decay"] == 0.0 and groups[1]["l1"] == 0.0 and groups[1]["max_norm"] is None
    assert groups[0]["params"][0] is m["fc1.weight"]
    assert split_decay_groups([("b", m["fc1.bias"])])[0]["param_names"] == ["b"]
    with pytest.raises(TypeError, match=r"named_params\[0\]"):
        split_decay_groups([m["fc1.bias"]])


@pytest.mark.parametrize("be", BACKENDS)
def test_groups_follow_their_own_hyper_parameters(be):
    m = model(np.float64)
    groups = split_decay_groups(m)
    opts = dict(lr=0.05, momentum=0.9, weight_decay=0.1, l1=0.01, max_norm=2.0)
    opt = SGD(groups, **opts)
    names = groups[0]["param_names"] + groups[1]["param_names"]
    params = [m[n] for n in names]
    want = {n: (m[n].copy(), None) for n in names}
    with rc.use_backend(be):
        for step in range(4):
            gs = grads_for(params, step)
            opt.step(gs)
            for n, g in zip(names, gs):
                o = dict(opts) if n in groups[0]["param_names"] else dict(opts, weight_decay=0.0, l1=0.0, max_norm=None)
                want[n] = oracle_step(want[n][0], g, want[n][1], o)
    for n in names:
        np.testing.assert_allclose(m[n], want[n][0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("be", BACKENDS)
def test_state_dict_round_trip_resumes_bit_identically(be):
    opts = dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, l1=0.001, max_norm=3.0)
    with rc.use_backend(be):
        a = model()
        groups_a = split_decay_groups(a)
        opt_a = SGD(groups_a, **opts)
        params_a = groups_a[0]["params"] + groups_a[1]["params"]
        for s in range(3):
            opt_a.step(grads_for(params_a, s))
        sd = opt_a.state_dict()
        snapshot = [p.copy() for p in params_a]
        # Changing the live optimizer must not change the checkpoint (buffers are copies).
        for s in range(3, 6):
            opt_a.step(grads_for(params_a, s))

        b = {k: v for k, v in zip([n for g in groups_a for n in g["param_names"]], snapshot)}
        groups_b = split_decay_groups(b)
        opt_b = SGD(groups_b, lr=1.0, momentum=0.0)  # wrong hyper-parameters: the checkpoint restores them
        opt_b.load_state_dict(sd)
        params_b = groups_b[0]["params"] + groups_b[1]["params"]
        for s in range(3, 6):
            opt_b.step(grads_for(params_b, s))
    for pa, pb in zip(params_a, params_b):
        assert np.array_equal(pa.view(np.uint8), pb.view(np.uint8))
    assert opt_b.step_count == opt_a.step_count == 6
    assert opt_b.state_dict()["param_groups"] == opt_a.state_dict()["param_groups"]


def test_load_state_dict_validates_before_changing_anything():
    m = model()
    opt = SGD(split_decay_groups(m), lr=0.1, momentum=0.9)
    params = [p for g in opt.param_groups for p in g["params"]]
    opt.step(grads_for(params, 0))
    sd = opt.state_dict()
    bad = {**sd, "state": {**sd["state"], 1: {"momentum_buffer": np.zeros((2, 2), np.float32)}}}
    before = opt.state_dict()
    with pytest.raises(ValueError, match=r"state_dict\['state'\]\[1\]\['momentum_buffer'\]"):
        opt.load_state_dict(bad)
    bad_groups = {**sd, "param_groups": sd["param_groups"][:1]}
    with pytest.raises(ValueError, match="param_groups"):
        opt.load_state_dict(bad_groups)
    bad_lr = {**sd, "param_groups": [dict(sd["param_groups"][0], lr=-1.0), sd["param_groups"][1]]}
    with pytest.raises(ValueError, match="lr"):
        opt.load_state_dict(bad_lr)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for k in before["state"]:
        np.testing.assert_array_equal(after["state"][k]["momentum_buffer"], before["state"][k]["momentum_buffer"])


def test_step_is_atomic_across_groups_and_skips_none_grads():
    m = model()
    opt = SGD(split_decay_groups(m), lr=0.1, momentum=0.9)
    params = [p for g in opt.param_groups for p in g["params"]]
    copies = [p.copy() for p in params]
    gs = grads_for(params, 0)
    gs[-1] = gs[-1].astype(np.float64)  # bad gradient in the last group
    with pytest.raises(TypeError, match=r"grads\[4\]"):
        opt.step(gs)
    for p, c in zip(params, copies):
        np.testing.assert_array_equal(p, c)
    gs = grads_for(params, 0)
    gs[1] = None
    opt.step(gs)
    np.testing.assert_array_equal(params[1], copies[1])
    assert not np.array_equal(params[0], copies[0])
    with pytest.raises(ValueError, match=r"^grads: "):
        opt.step(gs[:2])
    with pytest.raises(TypeError, match="unknown hyper-parameter"):
        SGD(params, betas=(0.9, 0.99))
    with pytest.raises(ValueError, match="listed twice"):
        SGD([params[0], params[0]])


def sparse_regression(l1_mode, be):
    rng = np.random.default_rng(42)
    n, d = 200, 20
    X = rng.standard_normal((n, d))
    w_true = np.zeros(d)
    w_true[:5] = [2.0, -1.5, 1.0, 3.0, -2.5]
    y = X @ w_true + 0.01 * rng.standard_normal(n)
    w = np.zeros(d)
    opt = SGD([w], lr=0.05, momentum=0.5, l1=0.1, l1_mode=l1_mode)
    with rc.use_backend(be):
        for _ in range(600):
            opt.step([X.T @ (X @ w - y) / n])
    return w


@pytest.mark.parametrize("be", BACKENDS)
def test_proximal_l1_reaches_exact_zeros_and_subgradient_does_not(be):
    prox = sparse_regression("proximal", be)
    sub = sparse_regression("subgradient", be)
    assert (prox[5:] == 0.0).all()
    assert (prox[:5] != 0.0).all()
    assert (sub[5:] != 0.0).all()
    assert np.abs(sub[5:]).max() < 0.05  # small but oscillating around zero, never zero
    w_true = [2.0, -1.5, 1.0, 3.0, -2.5]
    assert np.abs(prox[:5] - w_true).max() < 0.2 and np.abs(sub[:5] - w_true).max() < 0.2


@pytest.mark.parametrize("be", BACKENDS)
def test_max_norm_holds_after_every_optimizer_step(be):
    m = model()
    m["fc1.weight"] *= 5
    groups = split_decay_groups(m)
    opt = SGD(groups, lr=0.5, momentum=0.9, max_norm=1.0, max_norm_axis=0)
    params = [p for g in opt.param_groups for p in g["params"]]
    with rc.use_backend(be):
        for s in range(6):
            opt.step(grads_for(params, s))
            for p in groups[0]["params"]:
                rows = p.reshape(p.shape[0], -1).astype(np.float64)
                assert (np.sqrt((rows ** 2).sum(axis=1)) <= 1.0 + 1e-6).all()


TORCH_CASES = [
    dict(momentum=0.0),
    dict(momentum=0.9),
    dict(momentum=0.9, dampening=0.2),
    dict(momentum=0.9, nesterov=True, weight_decay=0.01),
    dict(momentum=0.5, weight_decay=0.1, maximize=True),
]


@pytest.mark.parametrize("be", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", TORCH_CASES, ids=[str(i) for i in range(len(TORCH_CASES))])
def test_identity_with_torch_optim_sgd(be, dtype, case):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    shapes = [(17, 9), (33,), (2, 3, 5)]
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    tparams = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in init]
    topt = torch.optim.SGD(tparams, lr=0.05, foreach=False, **case)
    ours = [x.copy() for x in init]
    opt = SGD(ours, lr=0.05, **{"momentum": 0.0, **case})
    with rc.use_backend(be):
        for s in range(5):
            gs = grads_for(ours, s)
            for p, g in zip(tparams, gs):
                p.grad = torch.from_numpy(g.copy())
            topt.step()
            opt.step(gs)
    tol = dict(rtol=2e-6, atol=2e-6) if dtype == "float32" else dict(rtol=1e-14, atol=1e-14)
    for p, x in zip(tparams, ours):
        np.testing.assert_allclose(x, p.detach().numpy(), **tol)
