"""The report as text: the terminal table, and Markdown for bench/RESULTS.md."""
from __future__ import annotations

import math

COLUMNS = ("kernel", "shape", "dtype", "backend", "ISA", "thr", "median", "GB/s", "%copy",
           "M items/s", "x numpy", "x torch", "state")


def human_n(n: int) -> str:
    for unit, size in (("M", 1 << 20), ("K", 1 << 10)):
        if n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def human_bytes(b) -> str:
    if b is None:
        return "-"
    if b == 0:
        return "0"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b >= size:
            return f"{b / size:.3g} {unit}"
    return f"{b} B"


def human_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _num(x, fmt):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def _shape(r) -> str:
    return "x".join(human_n(d) if d >= 1024 else str(d) for d in r["shape"])


def _backend(r) -> str:
    if r["impl"] == "peer":
        return f"{r['backend']}*"
    return r["backend"]


def cells(r) -> list:
    sp = r.get("speedup", {})
    return [
        r["name"], _shape(r), r["dtype"], _backend(r), r["isa"] or "-",
        "-" if r["threads"] is None else str(r["threads"]),
        human_time(r["median_s"]), _num(r["gbps"], ".2f"), _num(r.get("pct_copy"), ".0f"),
        _num(r["items_per_s"] and r["items_per_s"] / 1e6, ".1f"),
        _num(sp.get("numpy"), ".2f"), _num(sp.get("torch"), ".2f"), human_bytes(r["state_bytes"]),
    ]


def _baseline_rows(report) -> list:
    out = []
    for b, a in zip(report["baseline"]["before"], report["baseline"]["after"]):
        out.append([human_n(b["n"]), b["dtype"], str(b["threads"]), _num(b["gbps"], ".2f"),
                    _num(a["gbps"], ".2f"), _num(b.get("drift") and 100 * b["drift"], "+.0f")])
    return out


BASE_COLUMNS = ("n", "dtype", "thr", "copy GB/s before", "after", "drift %")


def _table(header, rows) -> str:
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cs: "  ".join(c.rjust(w) if i >= 5 else c.ljust(w) for i, (c, w) in enumerate(zip(cs, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def terminal(report) -> str:
    m = report["machine"]
    parts = [f"regcore bench: {m['cpu_model']}, {m['usable_cpus']} usable CPUs, ISA {','.join(m['isa_levels']) or '-'}"
             f", numpy {m['numpy']}, torch {m['torch'] or 'not installed'}"]
    if report["baseline"]["before"]:
        parts += ["", "copy baseline (native parallel memcpy; read n + write n elements)",
                  _table(BASE_COLUMNS, _baseline_rows(report))]
    rows, last = [], None
    for r in report["results"]:
        rows.append(cells(r))
    parts += ["", "kernels (* = peer; x numpy / x torch = peer time / our time; %copy = GB/s of the "
              "minimum bytes over the copy baseline)", _table(COLUMNS, rows)]
    legend = sorted({(r["name"], r["backend"], r["label"]) for r in report["results"] if r["impl"] == "peer"})
    if legend:
        parts += [""] + [f"peer {b}* for {n}: {label}" for n, b, label in legend]
    return "\n".join(parts)


def _md_table(header, rows) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows]
    return "\n".join(out)


def markdown(report, *, headline_n=None) -> str:
    """Markdown tables: the copy baseline, a headline (largest size, cpu at the best ISA level
    and every peer), and every row."""
    res = report["results"]
    parts = []
    if report["baseline"]["before"]:
        parts += ["### Copy baseline", "", _md_table(BASE_COLUMNS, _baseline_rows(report)), ""]
    if res:
        n = headline_n or max(r["n"] for r in res)
        best = (report["machine"]["isa_levels"] or [None])[-1]
        head = [r for r in res if r["n"] == n and (r["impl"] == "peer" or r["backend"] == "numpy"
                                                   or r["isa"] in (best, None))]
        parts += [f"### Headline: {human_n(n)} elements, best ISA level ({best}) and peers", "",
                  _md_table(COLUMNS, [cells(r) for r in head]), "",
                  "### Every row", "", _md_table(COLUMNS, [cells(r) for r in res]), ""]
    legend = sorted({(r["name"], r["backend"], r["label"]) for r in res if r["impl"] == "peer"})
    if legend:
        parts += ["### Peers", ""] + [f"- `{b}*` for `{n}`: `{label}`" for n, b, label in legend] + [""]
    if report["skipped"]:
        parts += ["### Skipped", ""]
        for s in report["skipped"]:
            who = f" ({s['peer']})" if s.get("peer") else ""
            parts.append(f"- `{s['name']}:{s['dtype']}`{who}: {s['reason']}")
        parts.append("")
    return "\n".join(parts)


# ---------------------------------------------------------------- the end-of-run summary

SUMMARY_COLUMNS = ("family", "headline kernel", "shape", "dtype", "thr", "GB/s", "%copy", "x numpy", "x torch")
NOISY_DRIFT = 0.25


def _headline_rows(report) -> list:
    """One row per kernel name: regcore's own (native or API) at its largest size, float32 when
    measured, the most threads, the best ISA level."""
    ours = [r for r in report["results"] if r["impl"] == "regcore" and r["backend"] in ("cpu", "cuda")]
    best = {}
    for r in ours:
        key = (r["name"], r["device"])
        rank = (r["n"], r["dtype"] == "float32", r["threads"] or 0, r["gbps"] or 0.0)
        if key not in best or rank > best[key][0]:
            best[key] = (rank, r)
    return [r for _, r in sorted(best.values(), key=lambda v: (v[1]["family"], v[1]["device"], v[1]["name"]))]


def noise_warnings(report) -> list:
    """Why the figures of this run may not be trusted: the copy baseline moved between the start
    and the end of the run, or the machine ran more runnable tasks than it has cores."""
    out = []
    drifts = [b.get("drift") for b in report["baseline"]["before"] if b.get("drift") is not None]
    worst = max(drifts, key=abs) if drifts else None
    if worst is not None and abs(worst) > NOISY_DRIFT:
        out.append(f"the copy baseline drifted {100 * worst:+.0f}% between the start and the end of "
                   f"the run (over {100 * NOISY_DRIFT:.0f}%): something else used the memory bus or the cores")
    cores = report["machine"].get("usable_cpus") or 0
    loads = [v for v in (report.get("load") or {}).values() if v is not None]
    if cores and loads and max(loads) > cores:
        out.append(f"load average {max(loads):.1f} above the {cores} usable CPUs: other processes "
                   f"competed for the cores, so multi-thread rows may read many times slower")
    return out


def skipped_line(report) -> str:
    """The skipped rows in one line, grouped by reason."""
    by = {}
    for s in report["skipped"]:
        by.setdefault(s["reason"], []).append(s)
    if not by:
        return ""
    parts = [f"{len(v)} x {reason}" for reason, v in sorted(by.items(), key=lambda kv: -len(kv[1]))]
    return f"skipped {len(report['skipped'])} (see the report): " + "; ".join(parts)


def summary(report) -> str:
    rows = []
    for r in _headline_rows(report):
        sp = r.get("speedup", {})
        fam = r["family"] + ("" if r["device"] == "cpu" else f" ({r['device']})")
        rows.append([fam, r["kernel"], _shape(r), r["dtype"], "-" if r["threads"] is None else str(r["threads"]),
                     _num(r["gbps"], ".1f"), _num(r.get("pct_copy"), ".0f"),
                     _num(sp.get("numpy"), ".2f"), _num(sp.get("torch"), ".2f")])
    mode = report["options"].get("mode", "full")
    head = (f"summary ({mode} run, {report['elapsed_s']:.0f}s, {report['measured']} of {report['planned']} "
            f"measurements; largest size per kernel, most threads, best ISA level; x = peer time / ours)")
    parts = ["", head, _table(SUMMARY_COLUMNS, rows) if rows else "(no kernel measured)"]
    if report.get("interrupted"):
        parts.append("INTERRUPTED: the report holds what was measured before Ctrl-C")
    for w in noise_warnings(report):
        parts.append(f"WARNING (noisy machine): {w}")
    line = skipped_line(report)
    if line:
        parts.append(line)
    return "\n".join(parts)
