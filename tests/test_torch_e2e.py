"""End to end: an MLP with batch norm and dropout trained on scikit-learn's digits (1797 8x8
images that ship with the package) with regcore's modules, optimizer and init reaches the test
accuracy of the same model trained with torch's, within noise (the dropout masks differ)."""
from __future__ import annotations

import pytest

from _torch_helpers import rct, torch

import regcore as rc

nn = torch.nn


def _data():
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[perm], y[perm]
    return (x[:1400], y[:1400]), (x[1400:], y[1400:])


def _net():
    return nn.Sequential(nn.Linear(64, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(128, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, 10))


def _train(model, opt, train, epochs=12, seed=1):
    x, y = train
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(y), generator=g).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model


def _accuracy(model, test):
    model.eval()
    with torch.no_grad():
        return (model(test[0]).argmax(1) == test[1]).float().mean().item()


@pytest.fixture
def one_thread():
    """Both libraries on one thread: small layers gain nothing from a second, and two OpenMP
    pools spinning on a shared 2-core CI machine cost seconds."""
    saved = torch.get_num_threads(), rc.get_num_threads()
    torch.set_num_threads(1), rc.set_num_threads(1)
    yield
    torch.set_num_threads(saved[0]), rc.set_num_threads(saved[1])


def test_digits_mlp_reaches_torch_accuracy(one_thread):
    train, test = _data()
    torch.manual_seed(0)
    ref = _net()
    ours = rct.convert(_net())
    g = rc.Generator(0)
    for m in ours.modules():   # regcore's init, in torch's law (kaiming-uniform-like)
        if isinstance(m, nn.Linear):
            rct.nn.init.kaiming_uniform_(m.weight, a=5 ** 0.5, generator=g)
    torch.manual_seed(0)
    _train(ref, torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4), train)
    torch.manual_seed(0)
    _train(ours, rct.optim.SGD(ours.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4, l1=1e-5), train)
    acc_ref, acc_ours = _accuracy(ref, test), _accuracy(ours, test)
    assert acc_ref > 0.93, acc_ref
    # 397 test images: one standard error of an accuracy near 0.96 is about 0.01
    assert acc_ours >= acc_ref - 0.03, (acc_ours, acc_ref)
