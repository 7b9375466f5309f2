"""optim.SGD.step is all groups or none: a Ctrl-C arriving between two groups' writes is raised
after the whole step (step_count included), and an error in group 1 leaves group 0 untouched."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from regcore.optim import SGD
from regcore.optim import _step



@pytest.fixture(autouse=True)
def _python_sigint_handler():
    # Libraries loaded earlier in a test session (MPI, distributed back ends) may leave SIGINT
    # ignored; these tests need Python's own handler, as a user's interpreter has it.
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)

def _opt():
    w0, w1 = np.ones(4, np.float32), np.ones(3, np.float32)
    opt = SGD([{"params": [w0]}, {"params": [w1], "lr": 0.5}], lr=0.1)
    return opt, w0, w1


def _interrupt_after_first_run(monkeypatch):
    """Send SIGINT to this process right after the first group's native call returns."""
    calls = []
    for cls in (_step._FastPlan, _step._Plan):
        original = cls.run

        def run(self, _original=original):
            out = _original(self)
            calls.append(1)
            if len(calls) == 1:
                os.kill(os.getpid(), signal.SIGINT)   # a real Ctrl-C, between group 0 and group 1
            return out

        monkeypatch.setattr(cls, "run", run)
    return calls


def test_interrupt_between_groups_is_raised_after_the_whole_step(monkeypatch):
    opt, w0, w1 = _opt()
    calls = _interrupt_after_first_run(monkeypatch)
    g0, g1 = np.ones(4, np.float32), np.ones(3, np.float32)
    with pytest.raises(KeyboardInterrupt):
        opt.step([g0, g1])
    assert len(calls) == 2                       # both groups ran
    np.testing.assert_array_equal(w0, np.float32(0.9))
    np.testing.assert_array_equal(w1, np.float32(0.5))
    assert opt.step_count == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # handler restored


def test_error_in_group_1_leaves_group_0_untouched():
    opt, w0, w1 = _opt()
    with pytest.raises(TypeError, match=r"^grads\[1\]: "):
        opt.step([np.ones(4, np.float32), np.ones(3, np.float64)])
    np.testing.assert_array_equal(w0, 1)
    np.testing.assert_array_equal(w1, 1)
    assert opt.step_count == 0
    opt.step([np.ones(4, np.float32), np.ones(3, np.float32)])   # a retry steps each group once
    np.testing.assert_array_equal(w0, np.float32(0.9))
    assert opt.step_count == 1


def test_torch_sgd_interrupt_between_groups(monkeypatch):
    torch = pytest.importorskip("torch")
    from regcore.torch import _ops_sgd
    from regcore.torch.optim import SGD as TSGD

    p0, p1 = torch.nn.Parameter(torch.ones(4)), torch.nn.Parameter(torch.ones(3))
    opt = TSGD([{"params": [p0]}, {"params": [p1], "lr": 0.5}], lr=0.1)
    p0.grad, p1.grad = torch.ones(4), torch.ones(3)
    original, calls = _ops_sgd.sgd_step_, []

    def step(*args):
        original(*args)
        calls.append(1)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(_ops_sgd, "sgd_step_", step)
    with pytest.raises(KeyboardInterrupt):
        opt.step()
    assert len(calls) == 2
    assert torch.equal(p0.detach(), torch.full((4,), 0.9)) and torch.equal(p1.detach(), torch.full((3,), 0.5))
