"""What the example scripts share: their command line, the digits data and the dropout MLP.

Each script puts its own folder on sys.path before importing this module, so it runs as
``python examples/<name>.py`` from any directory.
"""
from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")                 # the scripts write PNG files; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import regcore as rc  # noqa: E402
import regcore.torch as rct  # noqa: E402
from regcore import preprocess  # noqa: E402


def parse_args(doc: str, argv, *, tiny: str, out: str):
    """--tiny (help: tiny), --out DIR (help: out) and --threads N, parsed from argv; sets torch's
    and regcore's thread counts and creates the output folder."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help=tiny)
    ap.add_argument("--out", default=".", help=out)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch and regcore threads (default 1: these small nets run fastest on one)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rc.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    return args


def digits(*sizes, seed=0):
    """scikit-learn's digits cut into consecutive splits of the given sizes (None: all the rest),
    after one shuffle by ``seed`` (None: the file's order), standardized with the first split's
    statistics only: a list of (x float32 tensor, y int64 tensor) per split."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    order = np.arange(len(y)) if seed is None else np.random.default_rng(seed).permutation(len(y))
    parts, start = [], 0
    for size in sizes:
        stop = len(y) if size is None else start + size
        parts.append(order[start:stop])
        start = stop
    scaler = preprocess.StandardScaler().fit(X[parts[0]])
    return [(torch.tensor(scaler.transform(X[p]), dtype=torch.float32), torch.tensor(y[p])) for p in parts]


def dropout_mlp(hidden: int, p: float, seed: int) -> torch.nn.Sequential:
    """64-hidden-hidden-10 ReLU network with rct.nn.Dropout(p) after each hidden layer; He-normal
    weights drawn from rc.Generator(seed) (layer by layer), zero biases."""
    g = rc.Generator(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), rct.nn.Dropout(p),
                                torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), rct.nn.Dropout(p),
                                torch.nn.Linear(hidden, 10))
    for m in model:
        if isinstance(m, torch.nn.Linear):
            rct.nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=g)
            rct.nn.init.zeros_(m.bias)
    return model


def save(fig, out: str, name: str, dpi: int = 80) -> str:
    """Write the figure to out/name, close it; the path."""
    path = os.path.join(out, name)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
