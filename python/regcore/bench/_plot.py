"""--plot PATH: percent of the copy bandwidth per kernel and implementation, peers beside ours,
at each kernel's largest size and the most threads, 4-byte dtypes only when any row has one (one
bar group per kernel stays readable; the JSON and tables have the rest). matplotlib: the `bench`
extra."""
from __future__ import annotations


def available() -> bool:
    try:
        import matplotlib  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def _impl(r) -> str:
    if r["impl"] == "peer":
        return f"{r['backend']} (peer)"
    if r["backend"] == "numpy":
        return "regcore numpy"
    return f"regcore {r['backend']}" + (f" {r['isa']}" if r["isa"] else "")


def plot(report, path: str) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    res = [r for r in report["results"] if r.get("pct_copy") is not None]
    if not res:
        raise ValueError("nothing to plot: no row has a copy baseline")
    if any(r["dtype"] in ("float32", "uint32") for r in res):
        res = [r for r in res if r["dtype"] in ("float32", "uint32")]
    largest = {}
    for r in res:
        largest[r["id"]] = max(largest.get(r["id"], 0), r["n"])
    top = max(r["threads"] or 1 for r in res)
    # Single-threaded peers (NumPy) are what a user gets at any thread count: keep them.
    res = [r for r in res if r["n"] == largest[r["id"]] and (r["threads"] == top or r["threads"] == 1 and
                                              (r["impl"] == "peer" and not r.get("threaded") or r["backend"] == "numpy"))]
    kernels = sorted({r["id"] for r in res})
    impls = sorted({_impl(r) for r in res}, key=lambda s: (not s.startswith("regcore"), s))
    width = 0.8 / max(1, len(impls))
    fig, ax = plt.subplots(figsize=(min(40, max(6, 1.2 * len(kernels) * max(1, len(impls)) * 0.35 + 3)), 5.5))
    for j, impl in enumerate(impls):
        xs, ys = [], []
        for i, k in enumerate(kernels):
            vals = [r["pct_copy"] for r in res if r["id"] == k and _impl(r) == impl]
            if vals:
                xs.append(i + (j - (len(impls) - 1) / 2) * width)
                ys.append(max(vals))
        ax.bar(xs, ys, width, label=impl, hatch="//" if not impl.startswith("regcore") else None)
    ax.axhline(100, color="k", lw=0.8, ls="--")
    ax.set_xticks(range(len(kernels)))
    ax.set_xticklabels(kernels, rotation=30, ha="right")
    ax.set_ylabel("% of copy bandwidth (minimum bytes)")
    ax.set_title(f"{report['machine']['cpu_model']}: largest size of each kernel, {top} thread(s)")
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
