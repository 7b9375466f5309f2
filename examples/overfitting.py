"""Overfitting and the regularizers that fight it, on scikit-learn's digits.

Lecture claim (cs231n "Neural Networks 2", regularization; lecture 7; NYU deep learning 14-3):
a network with far more parameters than training examples fits the training set perfectly and
generalizes worse; L2 (weight decay), L1 (sparse weights), dropout, batch normalization and max-norm
constraints combined with dropout shrink the gap between training and validation accuracy.

The run: a 64-256-256-10 ReLU network on 200 training digits (validation: 1000 other digits),
the same initial weights for every variant, SGD with momentum. regcore's modules and optimizer
(rct.nn.Dropout, rct.nn.BatchNorm1d, rct.optim.SGD with weight_decay=, l1= (proximal) and
max_norm=) next to PyTorch's own modules and torch.optim.SGD on the same data and initial weights
(torch has no proximal L1 and no max-norm: the L1 row uses the loss term lam * sum |w|, the
max-norm row torch.renorm after each step). It writes overfitting.png (accuracies) and
overfitting_loss.png (losses) and prints every number it plots.

    python examples/overfitting.py [--tiny] [--out DIR]
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np
import torch

import regcore as rc
import regcore.torch as rct

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # _common.py, from any directory
from _common import digits, parse_args, plt, save  # noqa: E402

HIDDEN = 256                 # --tiny: 32
VARIANTS = [  # name, hyper-parameters
    ("none", dict()),
    ("L2", dict(weight_decay=5e-3)),
    ("L1 (proximal)", dict(l1=2e-3)),
    ("dropout", dict(dropout=0.5)),
    ("batch norm", dict(bn=True)),
    ("max-norm + dropout", dict(dropout=0.5, max_norm=2.0)),
]


def make_model(kind, dropout=0.0, bn=False):
    """kind: 'regcore' (rct.nn modules) or 'torch' (torch.nn modules); same layer order."""
    nn_drop = rct.nn.Dropout if kind == "regcore" else torch.nn.Dropout
    nn_bn = rct.nn.BatchNorm1d if kind == "regcore" else torch.nn.BatchNorm1d
    layers, fan = [], 64
    for _ in range(2):
        layers.append(torch.nn.Linear(fan, HIDDEN))
        if bn:
            layers.append(nn_bn(HIDDEN))
        layers.append(torch.nn.ReLU())
        if dropout:
            layers.append(nn_drop(dropout))
        fan = HIDDEN
    layers.append(torch.nn.Linear(fan, 10))
    return torch.nn.Sequential(*layers)


def initial_weights(seed=0):
    """One set of Linear weights (He normal from regcore's sampler, zero biases) for every run."""
    g = rc.Generator(seed)
    ws = []
    for fan_in, fan_out in ((64, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, 10)):
        w = torch.empty(fan_out, fan_in)
        rct.nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g)
        ws.append((w, torch.zeros(fan_out)))
    return ws


def load_weights(model, ws):
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for lin, (w, b) in zip(linears, ws):
            lin.weight.copy_(w)
            lin.bias.copy_(b)


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        out = model(x)
    model.train()
    return float((out.argmax(1) == y).float().mean()), float(torch.nn.functional.cross_entropy(out, y))


def train(kind, hp, data, ws, epochs, lr, batch, seed):
    torch.manual_seed(seed)                  # same minibatch order (and mask seeds) for each kind
    (xtr, ytr), (xva, yva) = data
    model = make_model(kind, hp.get("dropout", 0.0), hp.get("bn", False))
    load_weights(model, ws)
    weights = [p for n, p in model.named_parameters() if p.dim() == 2]
    others = [p for n, p in model.named_parameters() if p.dim() != 2]
    wd, l1, c = hp.get("weight_decay", 0.0), hp.get("l1", 0.0), hp.get("max_norm")
    if kind == "regcore":
        opt = rct.optim.SGD([dict(params=weights, weight_decay=wd, l1=l1, max_norm=c), dict(params=others)],
                            lr=lr, momentum=0.9)
    else:
        opt = torch.optim.SGD([dict(params=weights, weight_decay=wd), dict(params=others)], lr=lr, momentum=0.9)
    curves = {"train": [], "val": [], "train_loss": [], "val_loss": []}
    n = len(ytr)
    for epoch in range(epochs):
        perm = torch.randperm(n)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            loss = torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
            if kind == "torch" and l1:
                # the loss-term L1 a torch user writes; l1 / (1 - momentum) matches regcore's strength
                loss = loss + l1 * (1 - 0.9) * sum(w.abs().sum() for w in weights)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if kind == "torch" and c is not None:
                with torch.no_grad():
                    for w in weights:
                        w.copy_(torch.renorm(w, 2, 0, c))
        acc, tloss = accuracy(model, xtr, ytr)
        curves["train"].append(acc)
        curves["train_loss"].append(tloss)
        acc, vloss = accuracy(model, xva, yva)
        curves["val"].append(acc)
        curves["val_loss"].append(vloss)
    zeros = sum(int((w == 0).sum()) for w in weights)
    total = sum(w.numel() for w in weights)
    return curves, zeros, total


def main(argv=None):
    args = parse_args(__doc__, argv, tiny="a few epochs on a small split (CI smoke run)",
                      out="directory for overfitting.png")
    global HIDDEN
    epochs, n_train, n_val, HIDDEN = (2, 60, 100, 32) if args.tiny else (100, 200, 1000, 256)
    t0 = time.perf_counter()
    data = digits(n_train, n_val)   # standardized with the training split's statistics only
    ws = initial_weights()
    results = {}
    for name, hp in VARIANTS:
        for kind in ("regcore", "torch"):
            results[name, kind] = train(kind, hp, data, ws, epochs, lr=0.02, batch=25, seed=1)

    print("Claim (cs231n NN2 / lecture 7, NYU 14-3): regularization shrinks the train-validation gap.")
    print(f"{'variant':<20} {'kind':<8} {'train acc':>9} {'val acc':>8} {'best val':>8} {'gap':>6} "
          f"{'val loss':>8} {'exact zeros':>12}")
    gaps = {}
    for (name, kind), (cur, zeros, total) in results.items():
        gap = cur["train"][-1] - cur["val"][-1]
        gaps[name, kind] = gap
        print(f"{name:<20} {kind:<8} {cur['train'][-1]:9.4f} {cur['val'][-1]:8.4f} {max(cur['val']):8.4f} "
              f"{gap:6.3f} {cur['val_loss'][-1]:8.4f} {zeros:>6}/{total}")
    base = gaps["none", "regcore"]
    helped = [n for n, _ in VARIANTS[1:] if gaps[n, "regcore"] < base]
    not_helped = [n for n, _ in VARIANTS[1:] if n not in helped]
    print(f"The run shows: gap without regularization {base:.3f}; smaller with "
          f"{', '.join(helped) or 'no variant'}" + (f"; not smaller with {', '.join(not_helped)}" if not_helped else "")
          + ". Deterministic variants give the same numbers with regcore's and torch's modules; dropout"
          " variants differ by their masks only.")
    z_rc = results["L1 (proximal)", "regcore"][1]
    z_t = results["L1 (proximal)", "torch"][1]
    print(f"L1: regcore's proximal step left {z_rc} weights exactly 0; torch's loss-term L1 left {z_t}.")

    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5), sharex=True, sharey=True)
    ep = np.arange(1, epochs + 1)
    for ax, (name, _) in zip(axes.flat, VARIANTS):
        for kind, style in (("regcore", "-"), ("torch", ":")):
            cur = results[name, kind][0]
            ax.plot(ep, cur["train"], "C0" + style, label=f"train ({kind})")
            ax.plot(ep, cur["val"], "C3" + style, label=f"validation ({kind})")
        title = f"{name}: gap {gaps[name, 'regcore']:.3f}"
        if name.startswith("L1"):
            title += f", zeros {z_rc} (torch {z_t})"
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy")
    axes[0, 0].legend(fontsize=8, loc="lower right")
    axes[0, 0].set_ylim(0.5, 1.01)
    fig.suptitle(f"Digits, {n_train} training examples, 64-{HIDDEN}-{HIDDEN}-10 ReLU net: regcore (solid) "
                 "vs PyTorch's modules (dotted), same initial weights")
    fig.tight_layout()
    path = save(fig, args.out, "overfitting.png")
    # the losses show what the saturated accuracies hide (both measured in eval mode: dropout off)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for k, (name, _) in enumerate(VARIANTS):
        cur = results[name, "regcore"][0]
        axes[0].semilogy(ep, cur["train_loss"], color=f"C{k}", label=name)
        axes[1].semilogy(ep, cur["val_loss"], color=f"C{k}", label=name)
    axes[0].set_title("training loss (regcore, eval mode)")
    axes[1].set_title("validation loss (regcore)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    loss_path = save(fig, args.out, "overfitting_loss.png")
    for name, _ in VARIANTS:
        cur = results[name, "regcore"][0]
        i = int(np.argmin(cur["val_loss"]))
        print(f"{name:<20} validation loss: lowest {cur['val_loss'][i]:.4f} at epoch {i + 1}, "
              f"last {cur['val_loss'][-1]:.4f}; training loss last {cur['train_loss'][-1]:.2e}")
    print(f"wrote {path}, {loss_path} ({time.perf_counter() - t0:.1f} s)")
    return results


if __name__ == "__main__":
    main()
