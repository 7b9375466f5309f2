"""Max-norm constraints under too-high learning rates.

Lecture claim (cs231n "Neural Networks 2", max norm constraints, after Srivastava et al. 2014):
clipping each neuron's incoming weight vector to ||w|| <= c after every update (typical c: 3 or 4)
means that "the network cannot explode even when the learning rates are set too high, because
the updates are always bounded"; it is used together with dropout.

The run: a 64-256-256-10 ReLU net with dropout 0.5 (rct.nn.Dropout) on 1000 standardized digits,
SGD with momentum 0.9 (rct.optim.SGD(max_norm=c) on the weight matrices: the clip is fused into the
update), for a grid of learning rates and c in {none, 4, 3, 2, 1}, from the same initial weights. It
writes max_norm.png (final validation accuracy per (lr, c), and the curves at the highest rate)
and prints the table.

    python examples/max_norm.py [--tiny] [--out DIR]
"""
from __future__ import annotations

import math
import os
import sys
import time

import numpy as np
import torch

import regcore.torch as rct

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # _common.py, from any directory
from _common import digits, dropout_mlp, parse_args, plt, save  # noqa: E402

HIDDEN = 256
NORMS = [None, 4.0, 3.0, 2.0, 1.0]


def train(data, lr, c, epochs, batch=50, seed=1):
    (xtr, ytr), (xva, yva) = data
    model = dropout_mlp(HIDDEN, 0.5, seed=0)
    weights = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
    biases = [m.bias for m in model if isinstance(m, torch.nn.Linear)]
    opt = rct.optim.SGD([dict(params=weights, max_norm=c), dict(params=biases)], lr=lr, momentum=0.9)
    torch.manual_seed(seed)
    val, losses = [], []
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(ytr))
        total = 0.0
        for i in range(0, len(ytr), batch):
            idx = perm[i:i + batch]
            loss = torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(ytr))
        model.eval()
        with torch.no_grad():
            out = model(xva)
        val.append(float((out.argmax(1) == yva).float().mean()) if torch.isfinite(out).all() else 0.0)
        if not math.isfinite(losses[-1]):               # diverged: NaN from here on
            val += [0.0] * (epochs - epoch - 1)
            losses += [math.nan] * (epochs - epoch - 1)
            break
    wmax = max(float(w.detach().norm(dim=1).max()) for w in weights)
    return dict(val=val, loss=losses, max_row_norm=wmax)


def main(argv=None):
    args = parse_args(__doc__, argv, tiny="few epochs, small split (CI smoke run)", out="directory for max_norm.png")
    if args.tiny:
        lrs, epochs, n_train, n_val = [0.01, 0.3], 2, 100, 100
    else:
        lrs, epochs, n_train, n_val = [0.01, 0.03, 0.1, 0.3], 25, 1000, 797
    t0 = time.perf_counter()
    data = digits(n_train, n_val)
    res = {(lr, c): train(data, lr, c, epochs) for lr in lrs for c in NORMS}

    print("Claim (cs231n NN2): with max-norm (c = 3 or 4) the network cannot explode even at too-high rates.")
    print(f"final validation accuracy after {epochs} epochs (dropout 0.5, momentum 0.9); rows c, columns lr")
    print(f"{'c':>6} " + " ".join(f"{lr:>8}" for lr in lrs))
    for c in NORMS:
        print(f"{str(c):>6} " + " ".join(f"{res[lr, c]['val'][-1]:8.4f}" for lr in lrs))
    print("final training loss")
    for c in NORMS:
        print(f"{str(c):>6} " + " ".join(f"{res[lr, c]['loss'][-1]:8.4g}" for lr in lrs))
    ok = lambda r: r["val"][-1] >= 0.8  # noqa: E731
    for lr in lrs:
        saved = [str(c) for c in NORMS[1:] if ok(res[lr, c])]
        failed = [str(c) for c in NORMS[1:] if not ok(res[lr, c])]
        if ok(res[lr, None]):
            print(f"lr={lr}: trains without max-norm (val acc >= 0.8)")
            continue
        print(f"lr={lr}: fails without max-norm; trains with c in {{{', '.join(saved) or 'none'}}}"
              + (f"; fails with c in {{{', '.join(failed)}}}" if failed else "")
              + (f" (the lecture's c = {' and '.join(c for c in ('3.0', '4.0') if c in failed)} does not save it)"
                 if {"4.0", "3.0"} & set(failed) else ""))

    fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 4.5))
    grid = np.array([[res[lr, c]["val"][-1] for lr in lrs] for c in NORMS])
    im = a0.imshow(grid, vmin=0, vmax=1, cmap="viridis")
    a0.set_xticks(range(len(lrs)), [str(lr) for lr in lrs])
    a0.set_yticks(range(len(NORMS)), ["none" if c is None else f"c={c:g}" for c in NORMS])
    for i in range(len(NORMS)):
        for j in range(len(lrs)):
            a0.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", color="w" if grid[i, j] < 0.6 else "k")
    a0.set_xlabel("learning rate")
    a0.set_title("final validation accuracy")
    fig.colorbar(im, ax=a0)
    ep = np.arange(1, epochs + 1)
    for k, c in enumerate(NORMS):
        a1.plot(ep, res[lrs[-1], c]["val"], color=f"C{k}", label="no max-norm" if c is None else f"c = {c:g}")
    a1.set_xlabel("epoch")
    a1.set_ylabel("validation accuracy")
    a1.set_ylim(0, 1)
    a1.grid(alpha=0.3)
    a1.legend(fontsize=8)
    a1.set_title(f"lr = {lrs[-1]}, momentum 0.9, dropout 0.5")
    fig.suptitle("Max-norm constraint (rct.optim.SGD(max_norm=c)) on digits")
    fig.tight_layout()
    path = save(fig, args.out, "max_norm.png")
    print(f"wrote {path} ({time.perf_counter() - t0:.1f} s)")
    return res


if __name__ == "__main__":
    main()
