"""Arrays that are not plain NumPy arrays, at the array API: NumPy subclasses compute as the plain
array they view (the same bits on the NumPy backend as natively), a torch tensor without memory
(the meta device) is refused naming the argument, and a backward's saved statistics must be the
NumPy arrays the forward left for CPU data."""
from __future__ import annotations

import numpy as np
import pytest

import regcore as rc
from _hostile import get, run_case
from _hostile_table import _bn, _norm, arr, build

TABLE = build()
BACKENDS = ["numpy"] + (["cpu"] if rc.available_isas() else [])


def _matrix_cases():
    out = []
    for name, entry in sorted(TABLE.items()):
        if entry.global_state or (entry.needs_native and not rc.available_isas()):
            continue
        kw = entry.make()
        for path in entry.read + entry.written:
            v = get(kw, path)
            if isinstance(v, np.ndarray) and v.ndim == 2 and v.dtype.kind == "f":
                out.append((name, path))
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_np_matrix_gives_the_plain_arrays_result(backend):
    # np.matrix's `*` is a matrix product and its reductions keep 2 dimensions: the NumPy
    # backend's arithmetic failed with unnamed errors (layer_norm: AxisError, penalty: "shapes not
    # aligned") where the native kernels computed the plain array's result
    cases = _matrix_cases()
    assert len(cases) > 20
    findings = []
    with rc.use_backend(backend):
        for name, path in cases:
            case = (f"{path}=matrix", [(path, lambda v: np.asmatrix(v.copy()))], "same", (path,))
            r = run_case(TABLE[name], case)
            if r:
                findings.append(f"{name}: {r}")
    assert not findings, "\n".join(findings)


@pytest.mark.parametrize("backend", BACKENDS)
def test_meta_tensors_are_refused_naming_the_argument(backend):
    torch = pytest.importorskip("torch")
    meta = torch.empty(4, 3, device="meta")
    with rc.use_backend(backend):
        with pytest.raises(TypeError, match=r"^x: .*meta"):       # was torch's unnamed ValueError
            rc.dropout(meta, 0.2)
        x = arr((4, 3))
        with pytest.raises(TypeError, match=r"^gamma: .*meta"):
            rc.batch_norm(x, torch.empty(3, device="meta"))
        with pytest.raises(TypeError, match=r"^X: .*meta"):       # was RuntimeError from Tensor.item()
            rc.preprocess.StandardScaler().fit(meta)
        with pytest.raises(TypeError, match=r"^X: .*meta"):
            rc.preprocess.PCA().fit(arr((6, 3), np.float64)).transform(meta)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["batch_norm", "layer_norm", "group_norm", "instance_norm"])
def test_saved_statistics_as_torch_tensors_are_refused_naming_the_field(kind, backend):
    # inspect accepts a torch CPU tensor as a view, but the backward's coefficient code used the
    # field itself: the native module's unnamed "incompatible function arguments", NumPy's
    # "Concatenation operation is not implemented"
    torch = pytest.importorskip("torch")
    x, g, b, saved = _bn() if kind == "batch_norm" else _norm(kind)
    saved.rstd = torch.from_numpy(saved.rstd.copy())
    with rc.use_backend(backend):
        with pytest.raises(TypeError, match=r"^saved\.rstd: "):
            getattr(rc, f"{kind}_backward")(arr(x.shape, k=5), x, g, saved)


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_bit_views_are_refused_not_read_negated(backend):
    # DLPack exports a negative-bit view's memory as it is: dropout(p=0) returned +x for a tensor
    # showing -x, and an `out=` view showed the result negated
    torch = pytest.importorskip("torch")
    x = torch.arange(1.0, 7.0).reshape(2, 3)
    neg = torch._neg_view(x)
    with rc.use_backend(backend):
        with pytest.raises(TypeError, match=r"^x: .*resolve_neg"):
            rc.dropout(neg, 0.0)
        with pytest.raises(TypeError, match=r"^gamma: .*resolve_neg"):
            rc.layer_norm(x, torch._neg_view(torch.ones(3)), None)
        out = torch._neg_view(torch.zeros(2, 3))
        with pytest.raises(TypeError, match=r"^out: .*resolve_neg"):
            rc.dropout(x, 0.0, out=out)
        assert torch.equal(out, torch.zeros(2, 3))
        with pytest.raises(TypeError, match=r"^x: .*dense"):          # was "expected dtype float32 ..., got float32"
            rc.dropout(x.to_sparse(), 0.1)


def test_preprocess_reads_a_negative_bit_view_by_its_values():
    # preprocess converts what it is given: the view is resolved (the fitted mean had the wrong sign)
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(np.random.default_rng(4).standard_normal((20, 3)) + 5)
    neg = torch._neg_view(x)
    a, b = rc.preprocess.StandardScaler().fit(neg), rc.preprocess.StandardScaler().fit(neg.resolve_neg())
    assert torch.equal(a.transform(neg), b.transform(neg.resolve_neg()))
    assert bool((a.transform(-x).mean(0).abs() < 1e-12).all())


def test_like_takes_any_tensor_of_a_place():
    # like= names a library and a device and is never read: an nn.Parameter was refused with the
    # advice for data that requires grad ("the gradient would silently stop here")
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(3, 3))
    w = rc.init.kaiming_uniform(tuple(p.shape), like=p, generator=rc.Generator(1))
    assert isinstance(w, torch.Tensor) and not w.requires_grad
    assert torch.equal(w, torch.from_numpy(rc.init.kaiming_uniform((3, 3), generator=rc.Generator(1))))
    assert rc.random.uniform((4,), like=torch._neg_view(torch.zeros(2))).shape == (4,)
    with pytest.raises(TypeError, match=r"^like: .*meta"):
        rc.init.zeros((2,), like=torch.empty(2, device="meta"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_tensors_written_in_place_are_marked_modified_for_autograd(backend):
    # the kernels write through a view autograd cannot see: a graph that had saved the tensor
    # differentiated with the new values (w.grad 7 where the forward multiplied by 2)
    torch = pytest.importorskip("torch")
    calls = [lambda a: rc.init.constant_(a, 7.0), lambda a: rc.dropout_(a, 0.5),
             lambda a: rc.dropout(torch.ones(3), 0.5, out=a), lambda a: rc.random.normal_(a)]
    with rc.use_backend(backend):
        for write in calls:
            w, a = torch.ones(3, requires_grad=True), torch.full((3,), 2.0)
            y = (w * a).sum()
            write(a)
            with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                y.backward()
        a = torch.full((3,), 2.0)
        before = a._version
        rc.dropout(a, 0.5)                       # only read: not marked
        assert a._version == before
