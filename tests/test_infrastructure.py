"""Build facts, backend choice, array intake and the DLPack consumer (no GPU needed)."""
from __future__ import annotations

import os

import numpy as np
import pytest

import regcore as rc
from regcore import _arrays, _native
import _fresh_import

native = pytest.mark.skipif(_native.cpu is None, reason="native CPU module not built")


def test_build_info_reports_what_was_built():
    info = rc.build_info()
    assert info["version"] == rc.__version__
    assert info["cpu_backend"] in ("numpy", "cpu")
    assert isinstance(info["cuda_compiled"], bool)
    assert isinstance(info["cuda_devices"], list)
    if info["native_cpu"]:
        assert "scalar" in info["isa_compiled"]
        assert info["isa_active"] in info["isa_supported"]
        assert info["threads"] >= 1
    if info["cuda_compiled"]:
        archs = info["cuda_architectures"].split(",")
        assert archs, "a CUDA build names its architectures"


@native
def test_set_isa_refuses_unknown_and_unsupported_levels():
    before = rc.active_isa()
    with pytest.raises(ValueError, match="unknown ISA"):
        rc.set_isa("sse9")
    with pytest.raises(TypeError):
        rc.set_isa(3)
    for level in ("scalar", "avx2", "avx512"):
        if level not in rc.available_isas():
            with pytest.raises(ValueError, match="not available"):
                rc.set_isa(level)
    assert rc.active_isa() == before


@native
def test_regcore_isa_environment_variable_forces_a_level_and_refuses_an_unknown_one():
    # a fresh import of regcore in a forked child (tests/_fresh_import.py)
    env = dict(os.environ, REGCORE_ISA="scalar")
    out = _fresh_import.run("import regcore; print(regcore.active_isa())", env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "scalar"
    env["REGCORE_ISA"] = "bogus"
    bad = _fresh_import.run("import regcore", env)
    assert bad.returncode != 0 and "REGCORE_ISA=bogus" in bad.stderr


def test_regcore_backend_environment_variable_selects_numpy():
    env = dict(os.environ, REGCORE_BACKEND="numpy")
    out = _fresh_import.run("import regcore; print(regcore.build_info()['cpu_backend'])", env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "numpy"


def test_use_backend_is_scoped_and_validated():
    with rc.use_backend("numpy"):
        assert rc.build_info()["cpu_backend"] == "numpy"
    with pytest.raises(ValueError, match="name"):
        with rc.use_backend("cuda"):
            pass


@native
def test_thread_count_setter_validates():
    n = rc.get_num_threads()
    with pytest.raises(ValueError):
        rc.set_num_threads(0)
    with pytest.raises(TypeError):
        rc.set_num_threads(1.5)
    rc.set_num_threads(n)
    assert rc.get_num_threads() == n


class _FakeCudaArray:
    """Looks like a CUDA tensor to the protocol (device type 2)."""

    def __dlpack_device__(self):
        return (2, 0)

    def __dlpack__(self, stream=None, max_version=None):
        raise AssertionError("must not be consumed when regcore has no CUDA module")


def test_cuda_array_without_cuda_build_says_how_to_get_one(monkeypatch):
    monkeypatch.setattr(_native, "cuda", None)
    with pytest.raises(RuntimeError, match="REGCORE_CUDA=ON"):
        rc.random.uniform_(_FakeCudaArray())


def test_non_array_inputs_are_refused_by_name():
    with pytest.raises(TypeError, match="x: expected an array"):
        rc.random.uniform_([1.0, 2.0])


def test_in_place_refuses_copies_read_only_and_strided_views():
    x = np.zeros(8, np.float32)
    x.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        rc.random.normal_(x)
    y = np.zeros((4, 4), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        rc.random.normal_(y[:, ::2])
    assert not y.any()
    with pytest.raises(TypeError, match="float32 or float64"):
        rc.random.normal_(np.zeros(4, np.int32))


def test_cpu_objects_are_viewed_through_dlpack_without_copy():
    torch = pytest.importorskip("torch")
    t = torch.zeros(1000, dtype=torch.float32)
    rc.random.uniform_(t, generator=rc.Generator(5))
    expected = rc.random.uniform((1000,), generator=rc.Generator(5))
    np.testing.assert_array_equal(t.numpy(), expected)


def test_allocating_forms_use_the_like_arrays_library():
    torch = pytest.importorskip("torch")
    like = torch.empty(3)
    out = rc.random.normal((2, 3), like=like, generator=rc.Generator(1))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and tuple(out.shape) == (2, 3)
    np.testing.assert_array_equal(out.numpy(), rc.random.normal((2, 3), generator=rc.Generator(1)))


cuda_module = pytest.mark.skipif(_native.cuda is None, reason="built without CUDA")


@cuda_module
@pytest.mark.parametrize("versioned", [False, True])
def test_dlpack_consumer_parses_capsules(versioned):
    """The DLPack parser of the CUDA module, fed CPU capsules (require_cuda=False): shape, dtype,
    strides, read-only flag, and the capsule marked as consumed."""
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    cap = x.__dlpack__(max_version=(1, 0)) if versioned else x.__dlpack__()
    v = _native.cuda.view_from_dlpack(cap, "x", 1, require_cuda=False)
    assert v.shape == (2, 3, 4) and v.dtype == "float64" and v.c_contiguous
    assert v.ptr == x.__array_interface__["data"][0]
    assert not v.readonly
    with pytest.raises(TypeError, match="unused DLPack capsule"):
        _native.cuda.view_from_dlpack(cap, "x", 1, require_cuda=False)  # already consumed
    strided = x[:, :, ::2]
    cap2 = strided.__dlpack__(max_version=(1, 0)) if versioned else strided.__dlpack__()
    assert not _native.cuda.view_from_dlpack(cap2, "x", 1, require_cuda=False).c_contiguous
    if versioned:
        ro = np.arange(4.0)
        ro.flags.writeable = False
        v3 = _native.cuda.view_from_dlpack(ro.__dlpack__(max_version=(1, 0)), "x", 1, require_cuda=False)
        assert v3.readonly
    with pytest.raises(ValueError, match="CUDA device"):
        _native.cuda.view_from_dlpack(x.__dlpack__(), "x", 1)
    del v  # the deleter runs; NumPy's buffer stays valid
    assert x.sum() == 276.0


@cuda_module
def test_cuda_module_imports_and_reports_devices_without_a_gpu():
    assert isinstance(_native.cuda.devices(), list)


@pytest.mark.parametrize("shape,dtype", [((1 << 18,), np.float32), ((300, 1000), np.float64), ((0, 5), np.float32),
                                         ((3, 5), np.float64), ((1 << 20,), np.uint8)])
def test_numpy_outputs_of_a_mebibyte_start_on_a_cache_line(shape, dtype):
    """Large outputs are 64-byte aligned (the kernels' streaming stores need it); every output is
    a writeable C-contiguous array of the requested shape and dtype."""
    out, ref = _arrays.empty_like_place(None, shape, dtype)
    assert out.shape == shape and out.dtype == np.dtype(dtype) and out.flags.c_contiguous and out.flags.writeable
    assert ref.target is out and ref.shape == shape and ref.writeable
    if out.nbytes >= 1 << 20:
        assert out.ctypes.data % 64 == 0
    out[...] = 3
    assert np.all(out == 3)
    y, _ = rc.batch_norm(np.ones((4, 3, 64, 1024), np.float32) + np.arange(1024, dtype=np.float32))
    assert y.ctypes.data % 64 == 0


def test_avx512_bf16_switch_is_reported_and_refuses_what_the_processor_lacks():
    """The AVX512_BF16 extension of the avx512 level (batch-norm bfloat16 stores) is chosen in
    dispatch: on by default where supported, reported by build_info, and turning it on where the
    processor lacks it is refused without changing the setting."""
    from regcore import _native

    if _native.cpu is None:
        pytest.skip("no native CPU module")
    cpu = _native.cpu
    before = cpu.avx512_bf16_active()
    assert before == cpu.avx512_bf16_supported()
    assert rc.build_info()["avx512_bf16"] == before
    try:
        cpu.set_avx512_bf16(False)
        assert not cpu.avx512_bf16_active() and rc.build_info()["avx512_bf16"] is False
        if cpu.avx512_bf16_supported():
            cpu.set_avx512_bf16(True)
            assert cpu.avx512_bf16_active()
        else:
            with pytest.raises(ValueError, match="AVX512_BF16"):
                cpu.set_avx512_bf16(True)
            assert not cpu.avx512_bf16_active()
    finally:
        if cpu.avx512_bf16_supported():
            cpu.set_avx512_bf16(before)


def test_first_call_does_not_import_numpy_ma_and_masked_arrays_are_still_refused():
    # np.ma imports numpy.ma on first use (~0.13 s, which every first call paid); a masked array
    # cannot exist before that import, so the check asks sys.modules
    assert not _fresh_import.imports_module("import numpy as np, regcore as rc\n"
                                            "rc.dropout(np.ones(64, np.float32), 0.5, generator=rc.Generator(1))",
                                            "numpy.ma")
    with pytest.raises(TypeError, match="MaskedArray"):
        rc.dropout(np.ma.masked_array(np.ones(4, np.float32)), 0.5)
