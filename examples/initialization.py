"""Weight initialization: per-layer activation histograms of a deep tanh / ReLU network.

Lecture claim (cs231n "Neural Networks 2", weight initialization; lecture 6/7 slides with the
per-layer histograms): with small random weights (N(0, 0.01^2)) the activations of a deep net
shrink toward zero layer after layer and the gradients vanish; with large weights (N(0, 1)) tanh
units saturate at +-1 and "the gradients will all be zero" (vanish too); Xavier initialization
(variance 1/fan_in) keeps tanh activations well scaled, He initialization (2/fan_in) does the same
for ReLU, where Xavier's activations shrink by half a variance per layer; batch normalization makes
the net robust to a bad initialization.

The run: 1000 standardized digits through 8 hidden layers of 256 units (no training: the
initialization alone), weights drawn with regcore.torch.nn.init from one regcore.Generator, batch
norm as rct.nn.functional.batch_norm (batch statistics, no affine) before the nonlinearity. For each of
small Gaussian, large Gaussian, Xavier, He and small Gaussian + batch norm, with tanh and with
ReLU, it records each hidden layer's activations and, after one backward pass of the
cross-entropy loss, the gradient norms with respect to each layer's activations and weights. It
writes initialization_tanh.png, initialization_relu.png (histograms) and initialization_stats.png
(per-layer standard deviation and gradient norms) and prints the numbers.

    python examples/initialization.py [--tiny] [--out DIR]
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

INITS = ["small Gaussian", "large Gaussian", "Xavier", "He", "small Gaussian + BN"]
ACTS = {"tanh": torch.tanh, "relu": torch.relu}


def init_weight(w, name, g):
    if name.startswith("small"):
        rct.nn.init.normal_(w, 0.0, 0.01, generator=g)
    elif name == "large Gaussian":
        rct.nn.init.normal_(w, 0.0, 1.0, generator=g)
    elif name == "Xavier":
        rct.nn.init.xavier_normal_(w, generator=g)               # variance 2 / (fan_in + fan_out) = 1/256 here
    else:
        rct.nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g)   # variance 2 / fan_in


def run(x, y, init, act, layers, width, seed=0):
    """Activations (after the nonlinearity) of each hidden layer, and gradient norms."""
    g = rc.Generator(seed)                   # the same draws for every (init, activation) pair
    fan, hs, ws = x.shape[1], [], []
    h = x
    bn = init.endswith("BN")
    for _ in range(layers):
        w = torch.empty(width, fan)
        init_weight(w, init, g)
        w.requires_grad_(True)
        ws.append(w)
        z = h @ w.T
        if bn:
            z = rct.nn.functional.batch_norm(z, None, None, training=True)
        h = ACTS[act](z)
        h.retain_grad()
        hs.append(h)
        fan = width
    head = torch.empty(10, fan)
    init_weight(head, "Xavier", g)
    loss = torch.nn.functional.cross_entropy(h @ head.T, y)
    loss.backward()
    acts = [a.detach().numpy().ravel() for a in hs]
    return dict(acts=acts, std=[float(a.std()) for a in acts], mean=[float(a.mean()) for a in acts],
                sat=[float(np.mean(np.abs(a) > 0.99)) if act == "tanh" else float(np.mean(a == 0)) for a in acts],
                gh=[float(a.grad.norm()) for a in hs], gw=[float(w.grad.norm()) for w in ws])


def main(argv=None):
    args = parse_args(__doc__, argv, tiny="fewer samples (CI smoke run)", out="directory for the PNG files")
    n, layers, width = (100, 3, 32) if args.tiny else (1000, 8, 256)
    t0 = time.perf_counter()
    ((x, y),) = digits(n, seed=None)        # the first n digits, standardized on themselves
    res = {(i, a): run(x, y, i, a, layers, width) for a in ACTS for i in INITS}

    print(f"{n} digits, {layers} hidden layers of {width} units; per layer 1..{layers}:")
    for (init, act), r in res.items():
        print(f"{act:>4} {init:<20} act std   " + " ".join(f"{v:9.3g}" for v in r["std"]))
        print(f"{'':>4} {'':<20} {'saturated' if act == 'tanh' else 'zero':<9} "
              + " ".join(f"{v:9.3f}" for v in r["sat"]))
        print(f"{'':>4} {'':<20} |dL/dh|   " + " ".join(f"{v:9.3g}" for v in r["gh"]))
        print(f"{'':>4} {'':<20} |dL/dW|   " + " ".join(f"{v:9.3g}" for v in r["gw"]))

    print("Claims (cs231n NN2) and what the run shows:")
    for act in ACTS:
        s = res["small Gaussian", act]
        print(f"  small N(0, 0.01^2), {act}: activations shrink ({s['std'][0]:.2g} -> {s['std'][-1]:.2g}); "
              f"activation gradients from the last to the first layer {s['gh'][-1]:.2g} -> {s['gh'][0]:.2g} "
              f"({'vanish, as claimed' if s['gh'][0] < s['gh'][-1] else 'do not vanish'}).")
    big = res["large Gaussian", "tanh"]
    grows = big["gh"][0] > big["gh"][-1]
    print(f"  large N(0, 1), tanh: {100 * np.mean(big['sat']):.0f}% of units saturated (claim: yes); the lecture "
          f"says the gradients vanish; the run: |dL/dh| goes {big['gh'][-1]:.3g} (last layer) -> "
          f"{big['gh'][0]:.3g} (first) -> {'they EXPLODE backward (disagreement)' if grows else 'they vanish'}: "
          "each layer multiplies by W^T, whose scale sqrt(fan_in) = "
          f"{np.sqrt(width):.0f} outweighs the (1 - tanh^2) factor of the few unsaturated units.")
    xr, hr = res["Xavier", "relu"], res["He", "relu"]
    print(f"  ReLU: Xavier's activation std {xr['std'][0]:.3g} -> {xr['std'][-1]:.3g} (shrinks, as claimed); "
          f"He's {hr['std'][0]:.3g} -> {hr['std'][-1]:.3g} (kept).")
    for act in ACTS:
        b = res["small Gaussian + BN", act]
        print(f"  small Gaussian + batch norm, {act}: activation std {b['std'][0]:.3g} -> {b['std'][-1]:.3g} "
              "(rescued, as claimed)")

    bins = {"tanh": np.linspace(-1, 1, 41), "relu": 40}
    for act in ACTS:
        fig, axes = plt.subplots(len(INITS), layers, figsize=(1.9 * layers, 1.6 * len(INITS)), squeeze=False)
        for r, init in enumerate(INITS):
            rr = res[init, act]
            for c in range(layers):
                ax = axes[r, c]
                a = rr["acts"][c]
                if act == "relu":
                    a = a[a > 0]                                  # the spike at 0 is printed as "zero"
                ax.hist(a, bins=bins[act], color="C0")
                ax.set_yticks([])
                ax.tick_params(labelsize=6)
                ax.set_title(f"L{c + 1} std {rr['std'][c]:.2g}", fontsize=7)
            axes[r, 0].set_ylabel(init, fontsize=8)
        fig.suptitle(f"{act}: activations per hidden layer (rows: initialization)"
                     + ("; ReLU histograms omit the zeros" if act == "relu" else ""), fontsize=10)
        fig.tight_layout()
        save(fig, args.out, f"initialization_{act}.png", dpi=70)

    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    L = np.arange(1, layers + 1)
    for c, act in enumerate(ACTS):
        for k, init in enumerate(INITS):
            rr = res[init, act]
            axes[0, c].semilogy(L, np.maximum(rr["std"], 1e-30), "o-", color=f"C{k}", label=init)
            axes[1, c].semilogy(L, np.maximum(rr["gh"], 1e-30), "o-", color=f"C{k}", label=init)
        axes[0, c].set_title(f"{act}: activation std per layer")
        axes[1, c].set_title(f"{act}: |dL/dh| per layer (backward runs right to left)")
        axes[1, c].set_xlabel("layer")
        for ax in axes[:, c]:
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    save(fig, args.out, "initialization_stats.png", dpi=70)
    print(f"wrote initialization_tanh.png, initialization_relu.png, initialization_stats.png in {args.out} "
          f"({time.perf_counter() - t0:.1f} s)")
    return res


if __name__ == "__main__":
    main()
