"""Plans and runs a benchmark session; returns the report as a plain dict (the JSON schema,
docs/benchmarks.md).

Order: copy baseline ("before"), then every selected kernel at every size (native rows at each
ISA level and thread count, the pure-NumPy backend row, the peers), then the copy baseline again
("after"). A kernel's "% of copy" divides its GB/s by the mean of the two copy figures at the
same element count, element size and thread count, and the report keeps both so drift shows.
"""
from __future__ import annotations

import importlib
import pkgutil
import time
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from .. import _dtypes, _native
from .._backend import use_backend
from .._build_info import active_isa, available_isas, get_num_threads, set_isa, set_num_threads
from . import _machine, _torch
from ._progress import Progress
from ._spec import Kernel, PeerUnavailable
from ._timing import time_callable

SCHEMA = "regcore-bench/1"
K, M = 1 << 10, 1 << 20
FULL_SIZES = (64 * K, 1 * M, 16 * M)   # cache-resident (256 KiB of float32), L2/L3, DRAM
QUICK_SIZES = (64 * K, 1 * M)
# The default run (`python -m regcore.bench`, a few minutes on 2 cores): every kernel once, at 4M
# elements (16 MiB of float32: past the last-level cache of most machines) or its smallest full
# geometry, 4-byte dtypes and bfloat16, best ISA level, 1 and all threads, fewer repeats. --full has the rest.
DEFAULT_SIZES = (4 * M,)
MODES = ("default", "full", "quick")


@dataclass
class Options:
    sizes: Optional[List[int]] = None       # elements; default FULL_SIZES (QUICK_SIZES if quick)
    threads: Optional[List[int]] = None     # default: 1 and every usable core
    isas: Optional[List[str]] = None        # default: every level the processor has
    filter: str = ""                        # substring of "family.kernel:dtype"
    quick: bool = False
    mode: str = "full"                      # "default" (the CLI's), "full" (--full), "quick"
    peers: bool = True
    numpy_backend: bool = True
    warmup: Optional[int] = None
    repeats: Optional[int] = None
    min_sample_s: Optional[float] = None
    budget_s: Optional[float] = None        # per Python-timed row, once it has 3 samples
    progress: bool = True
    extra: dict = field(default_factory=dict)

    def resolved(self) -> "Options":
        o = Options(**{k: getattr(self, k) for k in self.__dataclass_fields__})
        if o.quick:
            o.mode = "quick"
        if o.mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {o.mode!r}")
        short = o.mode == "default"
        o.sizes = list(o.sizes or {"quick": QUICK_SIZES, "default": DEFAULT_SIZES}.get(o.mode, FULL_SIZES))
        if not o.threads:
            most = max(1, get_num_threads())
            o.threads = sorted({1, most})
        o.isas = list(o.isas or (available_isas()[-1:] if short else available_isas()))
        bad = [i for i in o.isas if i not in available_isas()]
        if bad:
            raise ValueError(f"isas: {bad} not available here (available: {available_isas()})")
        if any(int(n) < 1 for n in o.sizes):
            raise ValueError("sizes: expected positive element counts")
        if any(int(t) < 1 for t in o.threads):
            raise ValueError("threads: expected positive integers")
        o.warmup = o.warmup if o.warmup is not None else (1 if o.quick else 2)
        o.repeats = o.repeats if o.repeats is not None else (3 if o.quick else 5 if short else 7)
        o.min_sample_s = o.min_sample_s if o.min_sample_s is not None else (1e-3 if o.quick else 2e-3)
        o.budget_s = o.budget_s if o.budget_s is not None else (0.5 if o.quick else 1.5 if short else 4.0)
        return o


# ---------------------------------------------------------------- what exists

def python_kernels() -> dict:
    """name -> Kernel, from every peers_<family> module of this package."""
    out = {}
    pkg = importlib.import_module(__package__)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if not info.name.startswith("peers_"):
            continue
        mod = importlib.import_module(f"{__package__}.{info.name}")
        for k in getattr(mod, "KERNELS", ()):
            if k.name in out:
                raise RuntimeError(f"benchmark kernel {k.name} defined twice")
            out[k.name] = k
    return out


def native_modules():
    """(device, module) for each native module that has a benchmark registry."""
    mods = []
    if _native.cpu is not None and hasattr(_native.cpu, "bench_cases"):
        mods.append(("cpu", _native.cpu))
    if _native.cuda is not None and hasattr(_native.cuda, "bench_cases") and _native.cuda.devices():
        mods.append(("cuda", _native.cuda))
    return mods


def native_cases() -> dict:
    """(name, dtype, device) -> (module, case description) for every registered case."""
    out = {}
    for device, mod in native_modules():
        for c in mod.bench_cases():
            out[(c["name"], c["dtype"], device)] = (mod, c)
    return out


def itemsize(dtype: str) -> int:
    # by name for bfloat16: NumPy knows it only once ml_dtypes is installed, and the plan (which
    # skips such rows with a reason) must not fail before that
    return 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize


def copy_dtype(dtype: str) -> str:
    return "float64" if itemsize(dtype) == 8 else "float32"


# ---------------------------------------------------------------- plan

@dataclass
class Task:
    kind: str            # "native", "api", "numpy-backend", "peer", "copy"
    name: str
    dtype: str
    n: int
    threads: int
    isa: Optional[str] = None
    device: str = "cpu"
    kernel: Optional[Kernel] = None
    peer: object = None
    module: object = None
    case: Optional[dict] = None
    phase: str = ""

    def label(self) -> str:
        who = {"native": f"cpu/{self.isa or '-'}", "api": f"cpu/{self.isa} (api)",
               "numpy-backend": "numpy backend", "copy": f"copy {self.phase}"}.get(self.kind)
        if who is None:
            who = self.peer.backend(self.device)
        return f"{self.name}:{self.dtype} n={self.n} {who} t={self.threads}"


def _matches(flt: str, name: str, dtype: str) -> bool:
    return not flt or any(f.strip() and f.strip() in f"{name}:{dtype}" for f in flt.split(","))


def _sizes_for(o: Options, kern: Optional[Kernel], native) -> List[int]:
    """The element counts of one kernel. A kernel with a fixed geometry (a layer shape, 50k-element
    tensors) runs at the sizes its native case (or its Kernel) states, quick or full; every other
    kernel at --sizes or the run's defaults."""
    def own(key):
        sizes = list(native[1].get(key) or []) if native else []
        if not sizes and kern is not None:
            sizes = list(getattr(kern, key) or [])
        return sizes

    if o.mode == "default":
        # One size per kernel: the largest of its quick sizes, the one its headline is about (a
        # torch module at 64K elements, where the targets start, not at 256, where the
        # ratio to torch measures call overhead only).
        quick = own("quick_sizes")
        if quick:
            return [max(quick)]
        full = own("sizes")
        return [min(full)] if full else list(o.sizes)
    return own("quick_sizes" if o.quick else "sizes") or list(o.sizes)


def plan(o: Options):
    """(tasks, skipped) for the resolved options."""
    kernels = python_kernels()
    natives = native_cases()
    keys = {(name, dtype) for (name, dtype, _dev) in natives if not name.startswith("baseline.")}
    for k in kernels.values():
        keys.update((k.name, d) for d in k.dtypes)
    keys = sorted(k for k in keys if _matches(o.filter, *k))
    if o.mode == "default":
        keys = [k for k in keys if itemsize(k[1]) in (2, 4)]   # bfloat16 rows beside float32 ones

    tasks, skipped = [], []
    torch_cuda = _torch.cuda_available()
    for name, dtype in keys:
        kern = kernels.get(name)
        cpu_case = natives.get((name, dtype, "cpu"))
        cuda_case = natives.get((name, dtype, "cuda"))
        reason = kern.available() if kern else None
        if dtype == "bfloat16" and _dtypes.bfloat16() is None:
            skipped.append({"name": name, "dtype": dtype, "reason": "bfloat16 arrays need ml_dtypes "
                            "(pip install ml_dtypes)"})
            continue
        if reason and not cpu_case:
            skipped.append({"name": name, "dtype": dtype, "reason": reason})
            continue
        for n in _sizes_for(o, kern, cpu_case or cuda_case):
            if kern:
                try:
                    kern.shape_for(n)
                except ValueError as exc:
                    skipped.append({"name": name, "dtype": dtype, "n": n, "reason": str(exc)})
                    continue
            if cpu_case:
                mod, case = cpu_case
                for isa in (o.isas if case["uses_isa"] else [None]):
                    for t in o.threads:
                        tasks.append(Task("native", name, dtype, n, t, isa, "cpu", kern, None, mod, case))
                if kern and kern.ours and dtype in kern.api_dtypes:
                    best = max(o.isas, key=available_isas().index)
                    for t in o.threads:
                        tasks.append(Task("api", name, dtype, n, t, best, "cpu", kern))
            elif kern and kern.ours and _native.cpu is not None:
                for isa in o.isas:
                    for t in o.threads:
                        tasks.append(Task("api", name, dtype, n, t, isa, "cpu", kern))
            if cuda_case:
                mod, case = cuda_case
                tasks.append(Task("native", name, dtype, n, 0, None, "cuda", kern, None, mod, case))
            if kern and kern.ours and o.numpy_backend:
                tasks.append(Task("numpy-backend", name, dtype, n, 1, None, "cpu", kern))
            if kern and o.peers:
                for peer in kern.peers:
                    for device in peer.devices:
                        if device == "cuda" and not torch_cuda:
                            continue
                        for t in (o.threads if peer.threaded and device == "cpu" else [1]):
                            tasks.append(Task("peer", name, dtype, n, t, None, device, kern, peer))
    # The copy baseline at every element count, element size, thread count and device the
    # kernels use (a device-to-device copy for cuda rows).
    copies = sorted({(t.device, t.n, copy_dtype(t.dtype), t.threads if t.device == "cpu" else 0)
                     for t in tasks if t.kind != "peer" or t.device == "cpu"})
    copies = [c for c in copies if ("baseline.copy", c[2], c[0]) in natives]
    base = []
    for phase in ("before", "after"):
        for device, n, cd, t in copies:
            mod, case = natives[("baseline.copy", cd, device)]
            base.append(Task("copy", "baseline.copy", cd, n, t, None, device, None, None, mod, case, phase))
    before = [b for b in base if b.phase == "before"]
    after = [b for b in base if b.phase == "after"]
    return before + tasks + after, skipped


# ---------------------------------------------------------------- run

class _Settings:
    """Set regcore's ISA level and thread count for a Python-timed row; restore afterwards."""

    def __init__(self, isa, threads):
        self.isa, self.threads = isa, threads

    def __enter__(self):
        self.saved = (active_isa(), get_num_threads())
        if self.isa:
            set_isa(self.isa)
        set_num_threads(self.threads)

    def __exit__(self, *exc):
        if self.saved[0]:
            set_isa(self.saved[0])
        set_num_threads(self.saved[1])


def _bytes(task: Task, natives: dict):
    """(min_bytes, formula, state_bytes, state_formula) of a kernel at n elements."""
    for dev in ("cpu", "cuda"):
        hit = natives.get((task.name, task.dtype, dev))
        if hit:
            mod, case = hit
            mb, sb = mod.bench_bytes(task.name, task.dtype, task.n)
            return mb, case["bytes_formula"], sb, case["state_formula"]
    k = task.kernel
    if k and k.min_bytes:
        size = itemsize(task.dtype)
        return k.min_bytes(task.n, size), k.bytes_formula, k.state_bytes(task.n, size), k.state_formula
    return None, "", None, ""


def _measure(task: Task, o: Options) -> dict:
    if task.kind in ("native", "copy"):
        r = task.module.bench_run(task.name, task.dtype, task.n, threads=task.threads if task.device == "cpu" else 0,
                                  isa=task.isa or "", warmup=o.warmup, repeats=o.repeats,
                                  min_sample_s=o.min_sample_s)
        r = dict(r)
        r["timing"] = "native" if task.device == "cpu" else f"native-{task.device}-events"
        if task.device != "cpu" or not r["uses_isa"]:
            r["isa"] = None
        return r
    shape = task.kernel.shape_for(task.n)
    kw = dict(warmup=o.warmup, repeats=o.repeats, min_sample_s=o.min_sample_s, budget_s=o.budget_s)
    if task.kind == "api":
        fn = task.kernel.ours(shape, np.dtype(task.dtype), "cpu")
        with _Settings(task.isa, task.threads):
            r = time_callable(fn, **kw)
        r["threads"] = task.threads
    elif task.kind == "numpy-backend":
        fn = task.kernel.ours(shape, np.dtype(task.dtype), "cpu")
        with use_backend("numpy"):
            r = time_callable(fn, **kw)
    else:
        fn = task.peer.make(shape, np.dtype(task.dtype), task.device)
        if task.peer.key == "torch":
            with _torch.threads(task.threads):
                r = time_callable(fn, sync=_torch.sync(task.device), **kw)
        else:
            r = time_callable(fn, **kw)
    r["timing"] = "python"
    return r


def _row(task: Task, r: dict, natives: dict) -> dict:
    mb, formula, sb, sformula = _bytes(task, natives)
    if task.kind == "peer":
        impl, backend, label = "peer", task.peer.backend(task.device), task.peer.label
        sb, sformula = None, ""  # what a peer keeps for backward is not ours to state
    else:
        impl = "regcore"
        backend = {"numpy-backend": "numpy"}.get(task.kind, task.device)
        if task.kind == "api" and (task.name, task.dtype, "cpu") in natives:
            backend = "cpu-api"   # beside the native rows of the same kernel, not instead of them
        label = {"native": "regcore (native timing)", "api": "regcore public API",
                 "numpy-backend": "regcore numpy backend", "copy": "native parallel memcpy"}[task.kind]
    shape = list(task.kernel.shape_for(task.n)) if task.kernel else [task.n]
    fam, kern = task.name.split(".", 1)
    row = {
        "id": f"{task.name}:{task.dtype}", "name": task.name, "family": fam, "kernel": kern,
        "dtype": task.dtype, "n": task.n, "shape": shape, "impl": impl, "backend": backend,
        "label": label, "device": task.device,
        "isa": task.isa if task.kind == "api" else r.get("isa"),
        "threads": int(r.get("threads", task.threads) or task.threads),
        "timing": r["timing"], "median_s": r["median_s"], "min_s": r["min_s"], "max_s": r["max_s"],
        "times_s": list(r["times_s"]), "inner": r["inner"],
        "min_bytes": mb, "bytes_formula": formula, "state_bytes": sb, "state_formula": sformula,
        "items": task.kernel.items if task.kernel else "elements",
    }
    if task.kind == "numpy-backend" or (task.kind == "peer" and not task.peer.threaded):
        row["threads"] = 1  # NumPy runs these on one thread whatever the setting
    if task.device != "cpu":
        row["threads"] = None  # a GPU row has no CPU thread count
    if task.kind == "numpy-backend":
        row["isa"] = None
    row["gbps"] = (mb / row["median_s"] / 1e9) if mb is not None and row["median_s"] > 0 else None
    row["items_per_s"] = task.n / row["median_s"] if row["median_s"] > 0 else None
    return row


def _derive(results: list, before: list, after: list) -> None:
    """Fill pct_copy and the speed-ups over each peer."""
    copy = {}
    for r in before + after:
        copy.setdefault((r["device"], r["n"], r["dtype"], r["threads"]), []).append(r["gbps"])
    for r in results:
        ref = copy.get((r["device"], r["n"], copy_dtype(r["dtype"]), r["threads"]))
        r["copy_gbps"] = sum(ref) / len(ref) if ref else None
        r["pct_copy"] = 100.0 * r["gbps"] / r["copy_gbps"] if ref and r["gbps"] is not None else None
    peers = [r for r in results if r["impl"] == "peer"]
    for r in results:
        r["speedup"] = {}
        if r["impl"] != "regcore":
            continue
        for p in peers:
            if (p["id"], p["n"]) != (r["id"], r["n"]):
                continue
            if (p["device"] == "cuda") != (r["device"] == "cuda"):
                continue
            # A threaded peer is compared at the same thread count; a single-threaded one
            # (NumPy) is what a user gets whatever the thread count.
            if p.get("threaded") and p["threads"] != r["threads"]:
                continue
            k = p["backend"]
            s = p["median_s"] / r["median_s"]
            # several peers of one library (torch SGD foreach / fused): the fastest counts
            r["speedup"][k] = min(r["speedup"].get(k, s), s)


def run(options: Optional[Options] = None) -> dict:
    o = (options or Options()).resolved()
    tasks, skipped = plan(o)
    natives = native_cases()
    prog = Progress(len(tasks), enabled=o.progress)
    load_start = _machine.load_average()
    before, after, results = [], [], []
    t0 = time.perf_counter()
    interrupted = False
    try:
        for task in tasks:
            prog.step(task.label())
            try:
                r = _measure(task, o)
            except PeerUnavailable as exc:
                skipped.append({"name": task.name, "dtype": task.dtype, "n": task.n,
                                "peer": task.peer.label if task.peer else None, "reason": str(exc)})
                prog.advance()
                continue
            row = _row(task, r, natives)
            if task.peer is not None:
                row["threaded"] = bool(task.peer.threaded)
            {"before": before, "after": after}.get(task.phase, results).append(row)
            prog.advance()
    except KeyboardInterrupt:
        # Ctrl-C: stop measuring and report what was measured (the "after" copy baseline may be
        # missing, so drift is unknown for the rows it did not reach).
        interrupted = True
    finally:
        prog.close()
    _derive(results, before, after)
    for b, a in zip(before, after):
        b["drift"] = a["drift"] = (a["gbps"] / b["gbps"] - 1.0) if b["gbps"] else None
    return {
        "interrupted": interrupted,
        "planned": len(tasks),
        "measured": len(before) + len(results) + len(after),
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "elapsed_s": time.perf_counter() - t0,
        "machine": _machine.describe(),
        "load": {"start": load_start, "end": _machine.load_average()},
        "options": {"sizes": o.sizes, "threads": o.threads, "isas": o.isas, "filter": o.filter,
                    "quick": o.quick, "mode": o.mode, "warmup": o.warmup, "repeats": o.repeats,
                    "min_sample_s": o.min_sample_s, "budget_s": o.budget_s},
        "baseline": {"before": before, "after": after},
        "results": results,
        "skipped": _dedupe(skipped),
    }


def _dedupe(items):
    seen, out = set(), []
    for s in items:
        k = tuple(sorted((a, str(b)) for a, b in s.items() if a != "n"))
        if k not in seen:
            seen.add(k)
            out.append({a: b for a, b in s.items() if a != "n"})
    return out
