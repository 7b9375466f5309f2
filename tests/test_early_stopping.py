"""regcore.EarlyStopping: the stopping rule against a hand-written oracle, weights kept and restored
(dict of NumPy arrays, torch modules, regcore.torch modules), NaN handling, bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest

import regcore as rc


def oracle(values, mode, patience, min_delta):
    """Index of the evaluation that stops (None: never) and the best index, written plainly."""
    best, best_i, wait = None, None, 0
    for i, v in enumerate(values):
        if math.isnan(v):
            better = False
        elif best is None:
            better = True
        else:
            better = v < best - min_delta if mode == "min" else v > best + min_delta
        if better:
            best, best_i, wait = v, i, 0
        else:
            wait += 1
            if wait > patience:
                return i, best_i
    return None, best_i


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("patience", [0, 1, 3])
@pytest.mark.parametrize("min_delta", [0.0, 0.05])
def test_rule_matches_oracle(mode, patience, min_delta):
    rng = np.random.default_rng(patience * 10 + int(min_delta * 100))
    for trial in range(20):
        values = list(np.cumsum(rng.normal(0, 0.1, 30)) + (-0.02 if mode == "min" else 0.02) * np.arange(30))
        stop_at, best_at = oracle(values, mode, patience, min_delta)
        es = rc.EarlyStopping("loss", mode=mode, patience=patience, min_delta=min_delta, check_finite=False)
        got = None
        for i, v in enumerate(values):
            if es.step(v):
                got = i
                break
        assert got == stop_at
        assert es.stopped == (stop_at is not None)
        assert es.stopped_step == stop_at
        seen = values[: (got + 1 if got is not None else len(values))]
        assert es.best_step == oracle(seen, mode, 10**9, min_delta)[1]
        assert es.history == [float(v) for v in seen]


def test_patience_zero_and_min_delta_boundary():
    es = rc.EarlyStopping(patience=0, min_delta=0.1)
    assert not es.step(1.0)
    assert es.step(0.95)            # 0.95 is not < 1.0 - 0.1: no improvement, patience 0 -> stop
    es = rc.EarlyStopping(patience=0, min_delta=0.1)
    es.step(1.0)
    assert not es.step(0.85)        # improves by more than min_delta
    assert es.best == 0.85 and es.wait == 0


def test_metrics_mapping_and_array_values():
    es = rc.EarlyStopping("val_acc", mode="max", patience=1)
    assert not es.step({"val_acc": 0.5, "loss": 3.0})
    assert not es.step({"val_acc": np.float32(0.6)})
    assert not es.step({"val_acc": np.array(0.6)})      # no improvement, wait 1
    assert es.step({"val_acc": np.array([0.55])})
    assert es.best == pytest.approx(0.6) and es.best_step == 1


def test_dict_weights_restored_in_place():
    w = {"W": np.zeros((3, 2)), "b": np.zeros(2)}
    es = rc.EarlyStopping(patience=1, restore_best_weights=True)
    losses = [3.0, 2.0, 2.5, 2.6]
    for epoch, loss in enumerate(losses):
        w["W"][...] = epoch
        w["b"][...] = -epoch
        if es.step(loss, w):
            break
    assert es.stopped_step == 3 and es.best_step == 1
    np.testing.assert_array_equal(w["W"], np.full((3, 2), 1.0))
    np.testing.assert_array_equal(w["b"], np.full(2, -1.0))


def test_object_with_state_dict_and_restore_at_end():
    class Holder:
        def __init__(self):
            self.a = np.zeros(4)

        def state_dict(self):
            return {"a": self.a}

        def load_state_dict(self, sd):
            self.a = sd["a"].copy()

    h = Holder()
    es = rc.EarlyStopping(mode="max", patience=5, restore_best_weights=True)
    for i, acc in enumerate([0.1, 0.9, 0.3]):
        h.a[:] = i
        assert not es.step(acc, h)
    es.restore(h)                    # no stop happened: restore explicitly after the last epoch
    np.testing.assert_array_equal(h.a, np.ones(4))


def test_nan_stops_at_once_with_check_finite():
    w = {"x": np.zeros(2)}
    es = rc.EarlyStopping(patience=10, restore_best_weights=True)
    es.step(1.0, w)
    w["x"][:] = 7
    assert es.step(float("nan"), w)
    assert es.stopped_step == 1
    np.testing.assert_array_equal(w["x"], 0)
    es = rc.EarlyStopping(patience=10)
    es.step(1.0)
    assert es.step(float("inf"))


def test_nan_counts_as_no_improvement_without_check_finite():
    es = rc.EarlyStopping(patience=1, check_finite=False)
    assert not es.step(float("nan"))      # a NaN first value is not a best
    assert es.best_step is None and es.wait == 1
    assert not es.step(2.0)
    assert not es.step(float("nan"))
    assert es.step(float("nan"))
    assert es.best == 2.0


@pytest.mark.parametrize("kwargs, exc, name", [
    (dict(patience=-1), ValueError, "patience"),
    (dict(patience=1.5), TypeError, "patience"),
    (dict(patience=True), TypeError, "patience"),
    (dict(mode="minimum"), ValueError, "mode"),
    (dict(min_delta=-0.1), ValueError, "min_delta"),
    (dict(min_delta=float("nan")), ValueError, "min_delta"),
    (dict(monitor=3), TypeError, "monitor"),
    (dict(restore_best_weights=1), TypeError, "restore_best_weights"),
])
def test_bad_constructor_arguments(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        rc.EarlyStopping(**kwargs)


def test_bad_step_arguments_leave_state_unchanged():
    w = {"x": np.zeros(2)}
    es = rc.EarlyStopping("val_loss", patience=0, restore_best_weights=True)
    es.step(1.0, w)
    before = (es.best, es.best_step, es.wait, es.num_steps, list(es.history), es.stopped)
    with pytest.raises(TypeError, match="value"):
        es.step("0.5", w)
    with pytest.raises(TypeError, match="value"):
        es.step(np.zeros(3), w)
    with pytest.raises(ValueError, match="value"):
        es.step({"loss": 0.5}, w)
    with pytest.raises(TypeError, match="weights"):
        es.step(2.0, [np.zeros(2)])
    with pytest.raises(TypeError, match=r"weights\['x'\]"):
        es.step(2.0, {"x": [0.0, 0.0]})
    with pytest.raises(ValueError, match=r"weights\['x'\]"):
        es.step(2.0, {"x": np.zeros(3)})         # the stop would restore into a wrong shape
    assert (es.best, es.best_step, es.wait, es.num_steps, list(es.history), es.stopped) == before
    assert es.step(2.0, w)
    with pytest.raises(RuntimeError, match="reset"):
        es.step(0.1)
    es.reset()
    assert not es.step(0.1) and es.best == 0.1


def test_restore_into_a_read_only_array_says_so_and_writes_nothing():
    es = rc.EarlyStopping("val_loss", patience=1, restore_best_weights=True)
    es.step(1.0, {"a": np.ones(3), "b": np.ones(3)})
    w = {"a": np.zeros(3), "b": np.zeros(3)}
    w["b"].flags.writeable = False
    with pytest.raises(ValueError, match=r"^weights\['b'\]: expected a writeable .*got 'a read-only ndarray"):
        es.restore(w)                        # the message read "got 'ndarray of shape (3,)'"
    assert not w["a"].any()


def test_restore_without_weights_kept():
    es = rc.EarlyStopping()
    es.step(1.0)
    with pytest.raises(RuntimeError, match="restore_best_weights"):
        es.restore({"x": np.zeros(1)})


def test_import_regcore_does_not_import_torch():
    import os

    import _fresh_import       # a fresh import of regcore in a forked child that has not imported torch

    code = "import sys, regcore; regcore.EarlyStopping(); assert 'torch' not in sys.modules"
    proc = _fresh_import.run(code, dict(os.environ))
    assert proc.returncode == 0, proc.stderr


def _train_torch(model, stopper, x, y, xv, yv, epochs=60, lr=0.5):
    import torch

    opt = torch.optim.SGD(model.parameters(), lr=lr)
    vals, states = [], []
    for epoch in range(epochs):
        model.train()
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            v = torch.nn.functional.mse_loss(model(xv), yv)
        vals.append(float(v))
        states.append({k: t.clone() for k, t in model.state_dict().items()})
        if stopper.step(v, model):
            break
    return vals, states


@pytest.mark.parametrize("use_regcore", [False, True])
def test_torch_model_best_state_restored(use_regcore):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    # an over-parameterized net on 12 noisy points: the validation loss turns up after a while
    x = torch.linspace(-1, 1, 12)[:, None]
    y = torch.sin(3 * x) + 0.3 * torch.randn_like(x)
    xv = torch.linspace(-0.95, 0.95, 40)[:, None]
    yv = torch.sin(3 * xv)
    model = torch.nn.Sequential(torch.nn.Linear(1, 64), torch.nn.BatchNorm1d(64), torch.nn.Tanh(),
                                torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))
    if use_regcore:
        import regcore.torch as rct

        model = rct.convert(model)
        assert type(model[1]).__module__.startswith("regcore.torch")
    stopper = rc.EarlyStopping("val_loss", patience=5, restore_best_weights=True)
    vals, states = _train_torch(model, stopper, x, y, xv, yv, epochs=400)
    assert stopper.stopped, "the run should overfit and stop within 400 epochs"
    best = int(np.argmin(vals))
    assert stopper.best_step == best and stopper.stopped_step == len(vals) - 1
    for k, t in model.state_dict().items():          # weights and batch-norm buffers are the best step's
        torch.testing.assert_close(t, states[best][k], rtol=0, atol=0)
    # the kept copy is independent of later in-place updates
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    stopper.restore(model)
    for k, t in model.state_dict().items():
        torch.testing.assert_close(t, states[best][k], rtol=0, atol=0)


def test_torch_state_dict_mapping_restored_in_place():
    torch = pytest.importorskip("torch")
    lin = torch.nn.Linear(3, 2)
    stopper = rc.EarlyStopping(patience=0, restore_best_weights=True)
    stopper.step(1.0, lin.state_dict())
    best = lin.weight.detach().clone()
    with torch.no_grad():
        lin.weight.add_(5.0)
    assert stopper.step(2.0, lin.state_dict())          # stops; restores through the shared storage
    torch.testing.assert_close(lin.weight.detach(), best, rtol=0, atol=0)
    with pytest.raises(ValueError, match="weight"):
        stopper.restore({"weight": np.zeros((2, 3)), "bias": np.zeros(2)})   # arrays for tensors: refused
    params = dict(lin.named_parameters())                 # leaves that require grad: restored too
    stopper.reset()
    stopper.step(1.0, params)
    with torch.no_grad():
        lin.bias.add_(1.0)
    assert stopper.step(3.0, params)
    torch.testing.assert_close(lin.weight.detach(), best, rtol=0, atol=0)
