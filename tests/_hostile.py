"""The engine of tests/test_hostile_api.py: hostile substitutions of one argument at a time, built
from the table in _hostile_table.py, and the check of one call.

A case is (label, path, value maker, expectation):
  "fail"   a TypeError/ValueError whose message starts with the argument's name;
  "fail2"  the same, naming both arguments (aliasing);
  "either" success, or such an error (valid-but-odd input: 0-d, zero-size, float16, None, -0.0);
  "ok"     success (a read-only array that is only read, the default generator);
  "same"   success with the valid call's results (a misaligned copy of the valid array).
On any failure: every array reachable from the arguments is unchanged (outputs, mask words,
optimizer buffers) and no generator moved. Any other exception type is a finding.

Run as a script (``python tests/_hostile.py cpu [--all]``) it checks the crash-prone cases (or
all) of every entry on one backend and prints the findings as JSON: the test runs it in a
subprocess, so a crash in a kernel fails one test instead of killing the run.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import math
import re
import sys

import numpy as np

import regcore as rc
from regcore import generator as _generator

# "x: ...", "mask.bits: ...", "params[0] and grads[1]: ...", "weights['w']: ..."
NAMED = re.compile(r"^([A-Za-z_][\w.\[\]']*)( and ([A-Za-z_][\w.\[\]']*))?: ")
_STEP = re.compile(r"\.(\w+)|\[(\d+)\]|\['([^']*)'\]")

# kinds whose native run may reach a kernel with memory it should never see
TRACE = False
CRASH_PRONE = ("misaligned", "negative_stride", "big_endian", "same", "overlap", "noncontiguous")


# ------------------------------------------------------------------ paths into the arguments

def _steps(path: str):
    root = re.match(r"\w+", path).group()
    steps, rest = [root], path[len(root):]
    for m in _STEP.finditer(rest):
        a, i, k = m.groups()
        steps.append(("attr", a) if a else ("idx", int(i)) if i else ("key", k))
    return steps


def get(kw: dict, path: str):
    steps = _steps(path)
    obj = kw[steps[0]]
    for kind, k in steps[1:]:
        obj = getattr(obj, k) if kind == "attr" else obj[k]
    return obj


def put(kw: dict, path: str, value) -> None:
    steps = _steps(path)
    if len(steps) == 1:
        kw[steps[0]] = value
        return
    parent = get(kw, path[:path.rfind("." if steps[-1][0] == "attr" else "[")])
    kind, k = steps[-1]
    if kind == "attr":
        object.__setattr__(parent, k, value)
    else:
        parent[k] = value


def names_match(named: str, path: str) -> bool:
    """The error names this argument, an argument holding it, or a part of it."""
    if path.startswith("self."):
        return True          # state the object was built with: any named argument will do
    return any(a == b or b.startswith(a + ".") or b.startswith(a + "[") for a, b in ((named, path), (path, named)))


# ------------------------------------------------------------------ hostile values

def _bf16():
    try:
        import ml_dtypes
    except ImportError:
        return None
    return ml_dtypes.bfloat16


def _misaligned(v):
    raw = np.zeros(v.nbytes + 1, np.uint8)
    out = raw[1:].view(v.dtype).reshape(v.shape)
    out[...] = v
    return out


def _read_only(v):
    v = v.copy()
    v.flags.writeable = False
    return v


def _noncontiguous(v):
    wide = np.zeros(v.shape[:-1] + (2 * v.shape[-1],), v.dtype) if v.ndim else np.zeros(2, v.dtype)
    if v.ndim == 0:
        return wide[::2]
    wide[..., ::2] = v
    return wide[..., ::2]


_ASARRAY_OK = ("int32", "list", "big_endian", "noncontiguous", "negative_stride")


def array_cases(v, written: bool, converts=None):
    """(label, maker, expectation) for an array argument whose valid value is v. ``converts``:
    "asarray" for arguments documented to take anything np.asarray reads (a copy is made), "any"
    for a user's own state (any array is kept as it is; only writing into a read-only one fails)."""
    if not isinstance(v, np.ndarray):
        return []
    out = _array_cases(v, written)   # makers take the valid value of the call at hand
    if converts == "asarray":
        return [(l, m, "either" if l in _ASARRAY_OK else e) for l, m, e in out]
    if converts == "any":
        return [(l, m, e if l == "read_only" else "either") for l, m, e in out]
    return out


def _array_cases(v, written):
    """The cases of an array like v; each maker builds its value from the call's own valid array
    (so a "same" comparison starts from the same bits as the baseline call)."""
    flt = v.dtype.kind == "f"
    cases = [
        ("int32", lambda v: v.astype(np.int32), "fail"),
        ("bool", lambda v: v.astype(bool), "fail"),
        ("complex64", lambda v: v.astype(np.complex64), "fail"),
        ("object", lambda v: v.astype(object), "fail"),
        ("masked", lambda v: np.ma.masked_array(v.copy(), mask=np.zeros(v.shape, bool)), "fail"),
        ("list", lambda v: v.tolist(), "fail"),
        ("zero_d", lambda v: v.reshape(-1)[:1].reshape(()).copy(), "either"),
        ("zero_size", lambda v: np.zeros((0,) + v.shape[1:], v.dtype), "either"),
        ("extra_dim", lambda v: v[None].copy(), "either"),
        ("none", lambda v: None, "either"),
        ("misaligned", lambda v: _misaligned(v), "same"),
        ("read_only", lambda v: _read_only(v), "fail" if written else "ok"),
    ]
    if flt:
        other = np.float64 if v.dtype == np.float32 else np.float32
        cases += [
            ("big_endian", lambda v: v.astype(v.dtype.newbyteorder(">")), "fail"),
            ("other_float", lambda v: v.astype(other), "either"),
            ("float16", lambda v: v.astype(np.float16), "either"),
            ("bfloat16", lambda v: v.astype(_bf16()) if _bf16() is not None else v.astype(np.float16), "either"),
            ("nan_data", lambda v: np.where(np.arange(v.size).reshape(v.shape) == 0, np.nan, v).astype(v.dtype), "either"),
        ]
    else:
        cases += [("float32", lambda v: v.astype(np.float32), "fail")]
    if v.size >= 2 and v.shape[-1] >= 2:
        cases.append(("noncontiguous", lambda v: _noncontiguous(v), "fail"))
    if v.ndim >= 1 and v.shape[0] >= 2:
        cases.append(("negative_stride", lambda v: v[::-1], "fail"))
    return cases


NAN, INF = float("nan"), float("inf")
_REAL = [(NAN, "fail"), (INF, "either"), (-INF, "either"), (10**400, "fail"), (-(10**400), "fail"),
         (-0.0, "either"), (1e300, "either"), ("0.5", "fail"), (None, "either"), (True, "fail"), ([0.5], "fail"),
         (1 + 0j, "fail"), (np.float32("nan"), "fail"), (np.float64(0.25), "either")]
_INT = [(1.5, "fail"), (NAN, "fail"), (2.0, "fail"), (-1, "either"), (True, "fail"), ("1", "fail"),
        (None, "either"), (np.int64(2), "either")]
EDGES = {
    "real": _REAL,
    "prob": _REAL + [(1.5, "fail"), (-0.1, "fail"), (1.0, "either"), (0.0, "either")],
    "int": _INT + [(10**400, "either"), (-(10**400), "either")],
    "count": _INT + [(0, "either"), (10**400, "fail"), (2**64, "fail")],
    "bool": [("no", "fail"), (None, "either"), (1, "either"), (np.bool_(True), "either"), (NAN, "fail")],
    "choice": [("bogus", "fail"), (None, "either"), (1, "fail"), (b"relu", "fail"), (NAN, "fail")],
    "dtype": [(None, "fail"), ("int32", "fail"), (np.int32, "fail"), ("float64", "either"), ("bogus", "fail"),
              (object(), "fail"), (np.dtype(">f4"), "fail"), ("float16", "either"), (np.complex64, "fail")],
    "shape": [(-1, "fail"), ((2, -1), "fail"), (1.5, "fail"), ((10**400,), "fail"), ("3", "fail"), (None, "fail"),
              ((), "either"), ((0,), "either"), ((2**70,), "fail"), ((2**40, 2**40), "fail"), ((True, 2), "fail"),
              ((2.0, 3), "fail")],
    "gen": [(None, "ok"), (5, "fail"), ("g", "fail"), (np.random.default_rng(0), "fail")],
    "like": [(5, "fail"), ("x", "fail"), (None, "ok"), ([1.0], "fail")],
    "callable": [(None, "fail"), (5, "fail")],
    "obj": [(None, "either"), (5, "fail"), ("x", "fail"), (object(), "fail")],
    "str": [(5, "fail"), (None, "fail"), (b"x", "fail")],
    "metric": [(NAN, "either"), (INF, "either"), ("0.5", "fail"), (None, "fail"), (10**400, "either"),
               ([1.0], "either"), (object(), "fail")],
}


def _overlapping(a, b):
    """Views of one buffer with a's and b's shapes and dtypes, b starting one element into a."""
    step = a.dtype.itemsize
    raw = np.zeros(a.nbytes + b.nbytes + step, np.uint8)
    va = raw[:a.nbytes].view(a.dtype).reshape(a.shape)
    vb = raw[step:step + b.nbytes].view(b.dtype).reshape(b.shape)
    vb[...] = b
    va[...] = a
    return va, vb


def cases(entry) -> list:
    """Every case of one entry: (label, [(path, maker)], expectation, blamed paths)."""
    kw = entry.make()
    out = []
    for path in entry.read + entry.written:
        v = get(kw, path)
        for label, maker, expect in array_cases(v, path in entry.written, entry.converts.get(path)):
            out.append((f"{path}={label}", [(path, maker)], expect, (path,)))
    for name, kind in entry.hyper.items():
        for i, (value, expect) in enumerate(EDGES[kind]):
            out.append((f"{name}={value!r:.40}", [(name, lambda _, value=value: value)], expect, (name,)))
    arrays = [p for p in entry.read + entry.written if isinstance(get(kw, p), np.ndarray)
              and get(kw, p).dtype.kind == "f" and get(kw, p).size >= 2]
    for i, a in enumerate(arrays):
        for b in arrays[i + 1:]:
            if a not in entry.written and b not in entry.written:
                continue
            va, vb = get(kw, a), get(kw, b)
            if va.shape == vb.shape and va.dtype == vb.dtype:
                ok = (a, b) in entry.allow or (b, a) in entry.allow
                out.append((f"{a}~{b}=same", [("#same", (a, b))], "either" if ok else "fail2", (a, b)))
            if va.dtype == vb.dtype:
                out.append((f"{a}~{b}=overlap", [("#overlap", (a, b))], "fail2", (a, b)))
    return out


# ------------------------------------------------------------------ running one case

def _walk(obj, seen, found, depth=0):
    """Every ndarray and Generator reachable from obj (containers, slots, attributes)."""
    if depth > 6 or id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        found.append(obj)
        return
    if isinstance(obj, rc.Generator):
        found.append(obj)
        return
    if isinstance(obj, (str, bytes, int, float, complex, type(None), np.generic, type)):
        return
    if isinstance(obj, dict):
        items = list(obj.values())
    elif isinstance(obj, (list, tuple)):
        items = list(obj)
    else:
        items = [getattr(obj, s) for c in type(obj).__mro__ for s in getattr(c, "__slots__", ()) if hasattr(obj, s)
                 and not s.startswith("__")]
        items += list(getattr(obj, "__dict__", {}).values())
    for it in items:
        _walk(it, seen, found, depth + 1)


def snapshot(kw):
    found = []
    _walk(kw, set(), found)
    found.append(_generator.default_generator())
    return [(o, o.offset if isinstance(o, rc.Generator) else np.ma.getdata(o).copy()) for o in found]


def changed(snap) -> list:
    bad = []
    for o, s in snap:
        if isinstance(o, rc.Generator):
            if o.offset != s:
                bad.append(f"generator moved {s} -> {o.offset}")
        else:
            now = np.ma.getdata(o)
            same = now.shape == s.shape and (now.dtype == object and list(now.ravel()) == list(s.ravel())
                                             or np.array_equal(now, s, equal_nan=now.dtype.kind in "fc"))
            if not same:
                bad.append(f"array of shape {s.shape} written")
    return bad


def _flat(result):
    if isinstance(result, np.ndarray):
        return [result]
    if isinstance(result, (tuple, list)):
        return [a for r in result for a in _flat(r)]
    if isinstance(result, (float, int, np.generic)):
        return [np.asarray(result)]
    return []


@contextlib.contextmanager
def process_state():
    """Restore what a successful call may change: ISA, thread count, default generator, the cap
    of the output buffer cache."""
    isa, threads, default = rc.active_isa(), rc.get_num_threads(), _generator._default
    cache_limit = rc.buffer_cache_info()["limit"]
    try:
        yield
    finally:
        if isa is not None:
            rc.set_isa(isa)
        rc.set_num_threads(threads)
        rc.set_buffer_cache_limit(cache_limit)
        _generator._default = default


def _invoke(entry, kw):
    with process_state():
        return entry.call(kw) if entry.call is not None else entry.fn(**kw)


def _params(entry) -> tuple:
    """The parameter names of the entry's function (defaults the case did not pass included)."""
    try:
        return tuple(inspect.signature(entry.fn).parameters) if entry.fn is not None else ()
    except (TypeError, ValueError):
        return ()


def run_case(entry, case) -> str | None:
    """None when the call behaved; else what went wrong."""
    label, subs, expect, blamed = case
    kw = entry.make()
    for path, maker in subs:
        if path == "#same":
            a, b = maker
            put(kw, b, get(kw, a))
        elif path == "#overlap":
            a, b = maker
            va, vb = _overlapping(get(kw, a), get(kw, b))
            put(kw, a, va)
            put(kw, b, vb)
        else:
            put(kw, path, maker(get(kw, path) if path in kw or "[" in path or "." in path else None))
    snap = snapshot(kw)
    try:
        with np.errstate(all="ignore"):
            result = _invoke(entry, kw)
    except (TypeError, ValueError) as exc:
        msg = str(exc)
        m = NAMED.match(msg)
        if not m:
            return f"{label}: error does not start with an argument name: {type(exc).__name__}: {msg[:200]}"
        named = [n for n in (m.group(1), m.group(3)) if n]
        # must-fail input is blamed on the substituted argument(s); odd-but-valid input may be
        # refused naming another argument it conflicts with (x's shape vs out's), never a stranger
        suspects = blamed if expect in ("fail", "fail2") else tuple(kw) + entry.read + entry.written + _params(entry)
        for p in (blamed if expect == "fail2" else [None]):
            want = (p,) if p else suspects
            if not any(names_match(n, s) for n in named for s in want):
                return f"{label}: error names {named}, not {want}: {msg[:200]}"
        bad = [b for b in changed(snap) if not (entry.runs_user_code and b.startswith("generator moved"))]
        if bad:
            return f"{label}: failed ({msg[:120]}) after writing: {bad}"
        if expect == "ok" or expect == "same":
            return f"{label}: refused a valid input: {type(exc).__name__}: {msg[:200]}"
        return None
    except Exception as exc:   # noqa: BLE001 -- any other type is the finding
        return f"{label}: raised {type(exc).__name__}: {str(exc)[:200]}"
    if expect in ("fail", "fail2"):
        return f"{label}: accepted"
    if expect == "same":
        base = entry.make()
        with np.errstate(all="ignore"):
            want = _invoke(entry, base)
        got_arrays = _flat(result) + [get(kw, p) for p in entry.written]
        want_arrays = _flat(want) + [get(base, p) for p in entry.written]
        for g, w in zip(got_arrays, want_arrays):
            if not np.array_equal(np.asarray(g), np.asarray(w), equal_nan=True):
                return f"{label}: result differs from the aligned call's"
    return None


def sweep(table, names, backend, kinds=None) -> list:
    findings = []
    with rc.use_backend(backend):
        for name in names:
            for case in cases(table[name]):
                if kinds is not None and not any(case[0].endswith("=" + k) for k in kinds):
                    continue
                if TRACE:
                    print(name, case[0], file=sys.stderr, flush=True)
                r = run_case(table[name], case)
                if r:
                    findings.append(f"{name}: {r}")
    return findings


if __name__ == "__main__":
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from _hostile_table import build

    table = build()
    TRACE = "--trace" in sys.argv
    backend = sys.argv[1]
    kinds = None if "--all" in sys.argv else CRASH_PRONE
    only = [a for a in sys.argv[2:] if not a.startswith("--")]
    native = bool(rc.available_isas())
    names = only or sorted(n for n in table if native or not table[n].needs_native)
    print(json.dumps(sweep(table, names, backend, kinds), indent=1))
