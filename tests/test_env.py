"""Environment variables are checked at import: a wrong value fails `import regcore` with a message
naming the variable, its value and what it accepts; a missing compiled module is reported as missing."""
import os
import subprocess
import sys

import pytest

import regcore as rc
import _fresh_import

native = pytest.mark.skipif(not rc.build_info()["native_cpu"], reason="native CPU module not built")


def _import(code="import regcore", flags=(), **env):
    full = {k: v for k, v in os.environ.items()
            if k not in ("REGCORE_BACKEND", "REGCORE_ISA", "REGCORE_NUM_THREADS", "OMP_NUM_THREADS")}
    full.update(env)
    if not flags:      # a forked child that has imported NumPy but not regcore (tests/_fresh_import.py)
        return _fresh_import.run(code, full)
    return subprocess.run([sys.executable, *flags, "-c", code], env=full, capture_output=True, text=True)


@pytest.mark.parametrize("value, hint", [("NumPy", "did you mean 'numpy'"), ("CPU", "did you mean 'cpu'"),
                                         ("gpu", "'numpy', 'cpu'"), ("numpy ", "did you mean 'numpy'")])
def test_backend_is_exact_and_case_sensitive(value, hint):
    out = _import(REGCORE_BACKEND=value)
    assert out.returncode != 0
    assert f"REGCORE_BACKEND={value}" in out.stderr and hint in out.stderr
    assert "expected one of 'numpy', 'cpu'" in out.stderr


@pytest.mark.parametrize("value", ["numpy", "cpu", ""])
def test_backend_valid_values_import(value):
    if value == "cpu" and not rc.build_info()["native_cpu"]:
        pytest.skip("native CPU module not built")
    out = _import("import regcore; print(regcore.build_info()['cpu_backend'])", REGCORE_BACKEND=value)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (value or ("cpu" if rc.build_info()["native_cpu"] else "numpy"))


@pytest.mark.parametrize("value", ["AVX2", "sse", "avx-512"])
def test_isa_lists_the_valid_levels(value):
    out = _import(REGCORE_ISA=value)
    assert out.returncode != 0
    assert f"REGCORE_ISA={value}" in out.stderr and "'scalar', 'avx2', 'avx512'" in out.stderr


@native
def test_isa_valid_level_is_applied():
    out = _import("import regcore; print(regcore.active_isa())", REGCORE_ISA="scalar")
    assert out.returncode == 0 and out.stdout.strip() == "scalar", out.stderr


@pytest.mark.parametrize("name", ["REGCORE_NUM_THREADS", "OMP_NUM_THREADS"])
@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "100000"])
def test_thread_variables_refuse_non_counts(name, value):
    out = _import(**{name: value})
    assert out.returncode != 0
    assert f"{name}={value!r}" in out.stderr and "positive integer" in out.stderr


@native
def test_thread_variables_apply():
    out = _import("import regcore; print(regcore.get_num_threads())", REGCORE_NUM_THREADS="1", OMP_NUM_THREADS="2")
    assert out.returncode == 0 and out.stdout.strip() == "1", out.stderr
    out = _import("import regcore; print(regcore.get_num_threads())", OMP_NUM_THREADS="1,2")
    assert out.returncode == 0 and out.stdout.strip() == "1", out.stderr


def test_missing_compiled_module_is_reported_as_missing(tmp_path):
    # A copy of the pure-Python package without its compiled modules: what a user gets from an
    # install that skipped the C++ build.
    import shutil

    pkg = os.path.dirname(rc.__file__)
    dst = tmp_path / "regcore"
    shutil.copytree(pkg, dst, ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    import numpy
    import array_api_compat

    # -S: no site-packages .pth hooks (an editable install's finder would find the real package);
    # NumPy and array-api-compat come from their own directories on PYTHONPATH.
    deps = {os.path.dirname(os.path.dirname(m.__file__)) for m in (numpy, array_api_compat)}
    path = os.pathsep.join([str(tmp_path), *sorted(deps)])
    code = ("import regcore; assert regcore.__file__.startswith(%r), regcore.__file__;"
            "i = regcore.build_info(); print(i['cpu_backend']); print(i['native_cpu_error'])" % str(tmp_path))
    out = _import(code, flags=("-S",), PYTHONPATH=path)
    assert out.returncode == 0, out.stderr
    backend, why = out.stdout.strip().splitlines()
    assert backend == "numpy"
    assert "regcore._regcore_cpu is not installed" in why and "circular" not in why
    bad = _import(code, flags=("-S",), PYTHONPATH=path, REGCORE_BACKEND="cpu")
    assert bad.returncode != 0 and "not installed" in bad.stderr and "circular" not in bad.stderr
