"""Hostile input to every public callable of the array API (the table in _hostile_table.py, the
substitutions and checks in _hostile.py): one argument at a time becomes a hostile dtype, shape,
layout, alias of another argument or hyper-parameter edge. Every failure is a TypeError/ValueError
naming the argument, with nothing written and no generator advanced; valid-but-odd input may
succeed. Property-based over the cases (a fixed, derandomized hypothesis profile), on the NumPy
backend and the native one; the native run of the cases that could reach a kernel with bad memory
(misaligned, negative strides, aliasing ...) runs in a subprocess, so a crash fails one test."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import regcore as rc
from _hostile import CRASH_PRONE, cases, run_case
from _hostile_table import EXCLUDED, build, public_callables

TABLE = build()
NATIVE = bool(rc.available_isas())
NAMES = sorted(n for n in TABLE if NATIVE or not TABLE[n].needs_native)
BACKENDS = ["numpy"] + (["cpu"] if NATIVE else [])

settings.register_profile("hostile_api", max_examples=12, derandomize=True, database=None, deadline=None,
                          suppress_health_check=list(HealthCheck))
PROFILE = settings.get_profile("hostile_api")


def test_every_public_callable_has_an_entry():
    missing = [n for n in public_callables() if n not in TABLE]
    assert not missing, f"public callables without an entry in tests/_hostile_table.py: {missing}"
    stale = [n for n in TABLE if n not in public_callables()]
    assert not stale, f"table entries for names that are not public: {stale}"
    assert not [n for n in EXCLUDED if n in TABLE]


@pytest.mark.parametrize("name", NAMES)
def test_valid_arguments_are_valid(name):
    # the baseline every case perturbs must itself succeed (else a refusal proves nothing)
    from _hostile import _invoke

    entry = TABLE[name]
    _invoke(entry, entry.make())


_CASES = {name: cases(TABLE[name]) for name in NAMES}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", [n for n in NAMES if _CASES[n]])
def test_hostile_argument(name, backend):
    pool = [c for c in _CASES[name] if backend == "numpy" or c[0].rsplit("=", 1)[-1] not in CRASH_PRONE]

    @PROFILE
    @given(case=st.sampled_from(pool))
    def check(case):
        with rc.use_backend(backend):
            finding = run_case(TABLE[name], case)
        assert finding is None, finding

    check()


@pytest.mark.skipif("cpu" not in BACKENDS, reason="no native CPU module")
def test_crash_prone_cases_natively_in_a_subprocess():
    # every crash-prone case of every entry, not a sample: they are cheap, and a kernel reached
    # with misaligned, reversed or aliased memory must raise or compute, never crash
    here = os.path.dirname(__file__)
    r = subprocess.run([sys.executable, os.path.join(here, "_hostile.py"), "cpu"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, f"the native sweep died (rc {r.returncode}): {r.stderr[-2000:]}"
    findings = json.loads(r.stdout)
    assert not findings, "\n".join(findings)
