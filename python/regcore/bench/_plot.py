"""--plot PATH: percent of the copy bandwidth per kernel and implementation, peers beside ours,
at the largest size measured and the most threads (matplotlib, the `bench` extra)."""
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
    n = max(r["n"] for r in res)
    top = max(r["threads"] or 1 for r in res)
    # Single-threaded peers (NumPy) are what a user gets at any thread count: keep them.
    res = [r for r in res if r["n"] == n and (r["threads"] == top or r["threads"] == 1 and
                                              (r["impl"] == "peer" and not r.get("threaded") or r["backend"] == "numpy"))]
    kernels = sorted({r["id"] for r in res})
    impls = sorted({_impl(r) for r in res}, key=lambda s: (not s.startswith("regcore"), s))
    width = 0.8 / max(1, len(impls))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(kernels) * max(1, len(impls)) * 0.35 + 3), 4.5))
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
    ax.set_title(f"{report['machine']['cpu_model']}: n = {n}, {top} thread(s)")
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
