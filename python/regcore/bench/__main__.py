"""python -m regcore.bench / regcore-bench: see docs/benchmarks.md."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from . import _plot, _report
from ._runner import Options, run

_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def _size(text: str) -> int:
    t = text.strip().upper()
    mult = _UNITS.get(t[-1:], 1)
    digits = t[:-1] if t[-1:] in _UNITS else t
    try:
        v = int(digits) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an element count like 65536, 64K or 16M, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive element count, got {text!r}")
    return v


def _list(conv):
    def parse(text):
        return [conv(p) for p in text.split(",") if p.strip()]
    return parse


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="regcore-bench",
        description="Every regcore kernel against this machine's copy bandwidth and against NumPy "
                    "and PyTorch (when installed), in one run.")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true",
                      help="the complete sweep: 3 sizes, every ISA level (tens of minutes on 2 cores); the "
                           "default run measures every kernel once at its largest size, best ISA level (~3 min)")
    mode.add_argument("--quick", action="store_true", help="small sizes, few repeats: under a minute (CI smoke test)")
    p.add_argument("--filter", default="", help="substring(s) of 'family.kernel:dtype', comma-separated")
    p.add_argument("--threads", type=_list(_positive_int), help="thread counts, e.g. 1,2 (default: 1 and all)")
    p.add_argument("--sizes", type=_list(_size), help="element counts, e.g. 64K,1M,16M")
    p.add_argument("--isa", type=_list(str), help="ISA levels for the cpu rows (default: all the processor has)")
    p.add_argument("--repeats", type=_positive_int)
    p.add_argument("--warmup", type=int)
    p.add_argument("--no-peers", action="store_true", help="skip NumPy/PyTorch peers")
    p.add_argument("--no-numpy-backend", action="store_true", help="skip regcore's pure-NumPy backend rows")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="folder for report.json, report.md and report.png (default: bench-results/<date-time>)")
    p.add_argument("--json", metavar="PATH", help="also write the full report here (schema regcore-bench/1)")
    p.add_argument("--markdown", metavar="PATH", help="also write Markdown tables here (as in bench/RESULTS.md)")
    p.add_argument("--plot", metavar="PATH", help="also write the PNG of %% of copy bandwidth here (needs matplotlib)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--contention", action="store_true",
                   help="only the contention section: each family's kernel idle and beside a 2-thread "
                        "BLAS process, at the default thread count and 1 (not in the default run)")
    return p


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    if a.contention:
        from ._contention import markdown, run_contention

        sizes = a.sizes or ([1 << 14] if a.quick else [1 << 20, 1 << 24])
        result = run_contention(sizes, repeats=a.repeats or (5 if a.quick else 30), threads=a.threads,
                                progress=None if a.no_progress else print)
        text = markdown(result)
        print(text)
        if a.markdown:
            with open(a.markdown, "w") as f:
                f.write(text)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(result, f, indent=1)
        return 0
    if a.plot and not _plot.available():
        print("--plot needs matplotlib: pip install 'regcore[bench]'", file=sys.stderr)
        return 2
    mode = "quick" if a.quick else "full" if a.full else "default"
    opts = Options(sizes=a.sizes, threads=a.threads, isas=a.isa, filter=a.filter, quick=a.quick, mode=mode,
                   peers=not a.no_peers, numpy_backend=not a.no_numpy_backend, warmup=a.warmup,
                   repeats=a.repeats, progress=not a.no_progress)
    try:
        report = run(opts)
    except ValueError as exc:
        print(f"regcore-bench: {exc}", file=sys.stderr)
        return 2
    print(_report.terminal(report))
    folder = write_results(report, a.out or os.path.join("bench-results", time.strftime("%Y%m%d-%H%M%S")))
    for path, write in ((a.json, _write_json), (a.markdown, _write_markdown)):
        if path:
            write(report, path)
    if a.plot and report["results"]:
        _plot.plot(report, a.plot)
    print(_report.summary(report))
    print(f"report: {folder}{os.sep} (report.json, report.md{', report.png' if _has_plot(folder) else ''})")
    if report.get("interrupted"):
        return 130
    if not report["results"]:
        print("regcore-bench: nothing matched the filter", file=sys.stderr)
        return 1
    return 0


def _write_json(report, path):
    with open(path, "w") as f:
        json.dump(report, f, indent=1)


def _write_markdown(report, path):
    with open(path, "w") as f:
        f.write("### Summary\n\n```\n" + _report.summary(report).strip() + "\n```\n\n" + _report.markdown(report))


def _has_plot(folder):
    return os.path.exists(os.path.join(folder, "report.png"))


def write_results(report, folder) -> str:
    """report.json, report.md and (with matplotlib and at least one row) report.png in folder."""
    os.makedirs(folder, exist_ok=True)
    _write_json(report, os.path.join(folder, "report.json"))
    _write_markdown(report, os.path.join(folder, "report.md"))
    if _plot.available() and report["results"]:
        _plot.plot(report, os.path.join(folder, "report.png"))
    elif not _plot.available():
        print("regcore-bench: no report.png: the plot needs matplotlib (pip install 'regcore[bench]')", file=sys.stderr)
    return folder


if __name__ == "__main__":
    sys.exit(main())
