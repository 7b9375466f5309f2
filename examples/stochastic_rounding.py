"""Stochastic rounding keeps bfloat16 training moving where round-to-nearest stalls.

Claim (Gupta et al. 2015, "Deep Learning with Limited Numerical Precision"; the bfloat16 training
recipes that followed): when parameters are stored in a low-precision format, an update smaller
than half a unit in the last place is lost under round-to-nearest, so training with small learning
rates stalls; rounding stochastically (up with the probability of the fractional position) keeps
the expected update, and the low-precision run tracks the float32 one.

The run: a 64-128-10 tanh net on 1000 standardized digits, plain SGD with a small learning rate,
from the same initial weights in four settings: float32 parameters; bfloat16 parameters rounded to
nearest; bfloat16 with stochastic rounding (rct.optim.SGD(stochastic_rounding=True), words from
regcore's counter-based stream); bfloat16 with a float32 master copy (master_weights=True). The
forward and backward passes run in the parameters' dtype. It writes stochastic_rounding.png
(training loss and validation accuracy per epoch, and the fraction of weights each step left
unchanged) and prints the numbers.

    python examples/stochastic_rounding.py [--tiny] [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import regcore as rc  # noqa: E402
import regcore.torch as rct  # noqa: E402
from regcore import preprocess  # noqa: E402

HIDDEN = 128
RUNS = {  # name: (parameter dtype, optimizer extras)
    "float32": (torch.float32, {}),
    "bfloat16, nearest": (torch.bfloat16, {}),
    "bfloat16, stochastic": (torch.bfloat16, {"stochastic_rounding": True}),
    "bfloat16 + float32 master": (torch.bfloat16, {"master_weights": True}),
}


def load(n_train, n_val, seed=0):
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    tr, va = order[:n_train], order[n_train:n_train + n_val]
    sc = preprocess.StandardScaler().fit(X[tr])        # training statistics only
    t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return t(sc.transform(X[tr])), torch.tensor(y[tr]), t(sc.transform(X[va])), torch.tensor(y[va])


def model_with_weights(dtype, seed=0):
    g = rc.Generator(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, 10))
    for m in model:
        if isinstance(m, torch.nn.Linear):
            rct.nn.init.xavier_normal_(m.weight, generator=g)
            rct.nn.init.zeros_(m.bias)
    # Every run starts from the same bfloat16 values (the float32 run from them widened).
    return model.to(torch.bfloat16).to(dtype)


def train(data, dtype, extras, lr, epochs, batch=50, seed=1):
    xtr, ytr, xva, yva = data
    model = model_with_weights(dtype)
    opt = rct.optim.SGD(model.parameters(), lr=lr, momentum=0.0, generator=rc.Generator(7)
                        if extras.get("stochastic_rounding") else None, **extras)
    torch.manual_seed(seed)
    losses, val, frozen = [], [], []
    for _ in range(epochs):
        perm = torch.randperm(len(ytr))
        total, same, count = 0.0, 0, 0
        for i in range(0, len(ytr), batch):
            idx = perm[i:i + batch]
            loss = torch.nn.functional.cross_entropy(model(xtr[idx].to(dtype)).float(), ytr[idx])
            opt.zero_grad()
            loss.backward()
            before = [p.detach().clone() for p in model.parameters()]
            opt.step()
            same += sum(int((p.detach() == b).sum()) for p, b in zip(model.parameters(), before))
            count += sum(p.numel() for p in model.parameters())
            total += loss.item() * len(idx)
        losses.append(total / len(ytr))
        frozen.append(same / count)
        with torch.no_grad():
            out = model(xva.to(dtype)).float()
        val.append(float((out.argmax(1) == yva).float().mean()))
    return dict(loss=losses, val=val, frozen=frozen)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="few epochs, small split (CI smoke run)")
    ap.add_argument("--out", default=".", help="directory for stochastic_rounding.png")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch and regcore threads (default 1: this small net runs fastest on one)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rc.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    epochs, n_train, n_val = (3, 200, 200) if args.tiny else (30, 1000, 797)
    lr = 0.002
    t0 = time.perf_counter()
    data = load(n_train, n_val)
    res = {name: train(data, dtype, extras, lr, epochs) for name, (dtype, extras) in RUNS.items()}

    print("Claim (Gupta et al. 2015): with small updates, round-to-nearest low-precision training stalls; "
          "stochastic rounding tracks float32.")
    print(f"plain SGD, lr = {lr}, {epochs} epochs of {n_train} digits, batch 50")
    print(f"{'run':>27} {'train loss':>11} {'val acc':>8} {'weights unchanged per step':>27}")
    for name, r in res.items():
        print(f"{name:>27} {r['loss'][-1]:11.4f} {r['val'][-1]:8.4f} {np.mean(r['frozen']):27.4f}")
    f32 = res["float32"]["loss"][-1]
    start = res["float32"]["loss"][0]
    for name in list(RUNS)[1:]:
        got = res[name]["loss"][-1]
        share = (start - got) / (start - f32) if start != f32 else float("nan")
        print(f"{name}: {share:.2f} of the float32 run's loss decrease (first to last epoch)")

    fig, (a0, a1, a2) = plt.subplots(1, 3, figsize=(15, 4.2))
    ep = np.arange(1, epochs + 1)
    for k, (name, r) in enumerate(res.items()):
        style = dict(color=f"C{k}", label=name, ls="--" if "master" in name else "-")
        a0.plot(ep, r["loss"], **style)
        a1.plot(ep, r["val"], **style)
        a2.plot(ep, r["frozen"], **style)
    a0.set_ylabel("training loss")
    a1.set_ylabel("validation accuracy")
    a2.set_ylabel("fraction of weights a step left unchanged")
    for a in (a0, a1, a2):
        a.set_xlabel("epoch")
        a.grid(alpha=0.3)
    a0.legend(fontsize=8)
    fig.suptitle(f"bfloat16 parameters, plain SGD lr = {lr}: nearest vs stochastic rounding (regcore)")
    fig.tight_layout()
    path = os.path.join(args.out, "stochastic_rounding.png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"wrote {path} ({time.perf_counter() - t0:.1f} s)")
    return res


if __name__ == "__main__":
    main()
