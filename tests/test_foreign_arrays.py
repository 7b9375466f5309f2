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
