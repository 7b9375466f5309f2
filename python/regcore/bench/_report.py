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
    for s in report["skipped"]:
        who = f" ({s['peer']})" if s.get("peer") else ""
        parts.append(f"skipped: {s['name']}:{s['dtype']}{who}: {s['reason']}")
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
