"""Early stopping, snapshot ensembles and weight averaging (EMA) vs independent ensembles.

Lecture claims (cs231n lecture 7, "model ensembles"; NYU deep learning 14-3, early stopping):
* averaging the predictions of several independently trained models adds accuracy ("enjoy 2%
  extra performance");
* snapshots of ONE training run with a cyclic learning rate (Huang et al. 2017, SGDR) give much
  of that gain at the cost of a single run;
* keeping a moving average of the parameters (Polyak averaging / EMA) and testing with it helps
  for free;
* early stopping: stop when the validation loss stops improving and keep the best weights.

The run (digits: 500 training, 300 validation, 997 test; a 64-256-256-10 ReLU net with dropout
0.2, rct.optim.SGD with momentum 0.9, E epochs):
1. a single model at a constant learning rate for E epochs, with an EMA of its weights
   (rct.optim.swa_utils.EMA: one fused update over every parameter, updated
   every step) and regcore.EarlyStopping on the validation loss (patience 15, best weights
   restored when it fires; the run then goes on to E epochs for the figure);
2. a snapshot ensemble: the same budget of E epochs as M cosine cycles (warm restarts), one
   snapshot at the end of each cycle, predictions (softmax) averaged;
3. independent ensembles of M models from different initial weights: one cosine cycle of E/M
   epochs each (the snapshot ensemble's budget), and E epochs each (M times the budget).
It writes ensembles.png and prints the test accuracy, test NLL and cost of each.

    python examples/ensembles.py [--tiny] [--out DIR]
"""
from __future__ import annotations

import math
import os
import sys
import time

import numpy as np
import torch

import regcore as rc
import regcore.torch as rct

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # _common.py, from any directory
from _common import digits, dropout_mlp, parse_args, plt, save  # noqa: E402

BATCH = 50
EMA_DECAY = 0.98


def make_model(seed):
    return dropout_mlp(256, 0.2, seed)


def probs(model, x):
    was = model.training
    model.eval()
    with torch.no_grad():
        p = torch.softmax(model(x), 1)
    model.train(was)
    return p


def score(p, y):
    """(accuracy, negative log-likelihood) of averaged class probabilities."""
    return float((p.argmax(1) == y).float().mean()), float(-torch.log(p[torch.arange(len(y)), y] + 1e-12).mean())


def epochs_of(model, opt, data, epochs, sched=None, on_step=None, on_epoch=None, seed=0):
    (xtr, ytr) = data
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(ytr), generator=gen)
        for i in range(0, len(ytr), BATCH):
            idx = perm[i:i + BATCH]
            loss = torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            if on_step is not None:
                on_step()
        if on_epoch is not None:
            on_epoch(epoch)


def cosine(opt, steps):
    """Cosine annealing from the initial rate to 0 over `steps` steps, restarted every `steps`."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * (s % steps) / steps)))


def main(argv=None):
    args = parse_args(__doc__, argv, tiny="few epochs (CI smoke run)", out="directory for ensembles.png")
    E, M = (2, 2) if args.tiny else (60, 5)
    t0 = time.perf_counter()
    train, (xva, yva), (xte, yte) = digits(*((100, 100) if args.tiny else (500, 300)), None)
    steps_per_epoch = math.ceil(len(train[1]) / BATCH)
    lr = 0.05
    torch.manual_seed(0)                 # dropout masks

    # 1. single model + EMA + early stopping ------------------------------------------------
    model = make_model(0)
    opt = rct.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    ema = rct.optim.swa_utils.EMA(model, decay=EMA_DECAY)   # one fused update over every parameter
    stopper = rc.EarlyStopping("val_loss", patience=15, min_delta=1e-3, restore_best_weights=True)
    curve = {"val_loss": [], "ema_val_loss": [], "val_acc": [], "ema_val_acc": []}
    early = {}

    def single_epoch(epoch):
        a, nll = score(probs(model, xva), yva)
        with ema.average_parameters():                     # the averaged weights, swapped in and back
            ea, enll = score(probs(model, xva), yva)
        curve["val_loss"].append(nll)
        curve["val_acc"].append(a)
        curve["ema_val_loss"].append(enll)
        curve["ema_val_acc"].append(ea)
        if not stopper.stopped:
            current = {k: v.clone() for k, v in model.state_dict().items()}
            if stopper.step(nll, model):                   # restores the best epoch's weights
                early["test"] = score(probs(model, xte), yte)
                early["epoch"] = stopper.best_step + 1
                early["stopped"] = stopper.stopped_step + 1
                model.load_state_dict(current)             # only to draw the rest of the curve

    epochs_of(model, opt, train, E, on_step=ema.update, on_epoch=single_epoch)
    if not early:                                          # never fired within E epochs
        current_last = {k: v.clone() for k, v in model.state_dict().items()}
        stopper.restore(model)
        early = dict(test=score(probs(model, xte), yte), epoch=stopper.best_step + 1, stopped=E)
        model.load_state_dict(current_last)                # back to the weights after E epochs
    res = {"single model, epoch E": (score(probs(model, xte), yte), E)}
    res[f"early stopping (best epoch {early['epoch']})"] = (early["test"], early["stopped"])
    with ema.average_parameters():
        res[f"EMA of weights (decay {EMA_DECAY})"] = (score(probs(model, xte), yte), E)

    # 2. snapshot ensemble ------------------------------------------------------------------
    snap_model = make_model(0)
    opt = rct.optim.SGD(snap_model.parameters(), lr=lr, momentum=0.9)
    cycle = E // M
    snaps, snap_curve = [], []

    def snap_epoch(epoch):
        snap_curve.append(score(probs(snap_model, xva), yva)[0])
        if (epoch + 1) % cycle == 0:
            snaps.append(probs(snap_model, xte))

    epochs_of(snap_model, opt, train, cycle * M, sched=cosine(opt, cycle * steps_per_epoch), on_epoch=snap_epoch)
    snap_members = [score(torch.stack(snaps[:k]).mean(0), yte) for k in range(1, M + 1)]
    res[f"snapshot ensemble ({M} cycles)"] = (snap_members[-1], cycle * M)

    # 3. independent ensembles ----------------------------------------------------------------
    same_budget, full_budget = [], []
    for k in range(M):
        m = make_model(100 + k)
        o = rct.optim.SGD(m.parameters(), lr=lr, momentum=0.9)
        epochs_of(m, o, train, cycle, sched=cosine(o, cycle * steps_per_epoch), seed=100 + k)
        same_budget.append(probs(m, xte))
        m = make_model(200 + k)
        o = rct.optim.SGD(m.parameters(), lr=lr, momentum=0.9)
        epochs_of(m, o, train, E, sched=cosine(o, E * steps_per_epoch), seed=200 + k)
        full_budget.append(probs(m, xte))
    indep_same = [score(torch.stack(same_budget[:k]).mean(0), yte) for k in range(1, M + 1)]
    indep_full = [score(torch.stack(full_budget[:k]).mean(0), yte) for k in range(1, M + 1)]
    res[f"independent ensemble, {M} x {cycle} epochs"] = (indep_same[-1], cycle * M)
    res[f"independent ensemble, {M} x {E} epochs"] = (indep_full[-1], E * M)

    print("Claims (cs231n lecture 7, NYU 14-3): ensembles add accuracy; snapshots of one cyclic run get much of it")
    print("for one run's cost; an EMA of the weights helps for free; early stopping keeps the best weights.")
    print(f"{'method':<44} {'test acc':>8} {'test NLL':>8} {'epochs':>7}")
    for name, ((acc, nll), cost) in res.items():
        print(f"{name:<44} {acc:8.4f} {nll:8.4f} {cost:7d}")
    print("ensemble of the first k members (test accuracy), k = 1.." + str(M))
    for name, seq in (("snapshots", snap_members), (f"independent {cycle} ep", indep_same),
                      (f"independent {E} ep", indep_full)):
        print(f"  {name:<18} " + " ".join(f"{a:.4f}" for a, _ in seq))
    single = res["single model, epoch E"][0]
    print(f"The run shows: snapshot ensemble {snap_members[-1][0] - single[0]:+.4f} accuracy, "
          f"{snap_members[-1][1] - single[1]:+.4f} NLL vs the single model at the same cost; independent "
          f"ensemble at {M}x the cost {indep_full[-1][0] - single[0]:+.4f} accuracy; EMA "
          f"{res[f'EMA of weights (decay {EMA_DECAY})'][0][0] - single[0]:+.4f}; early stopping "
          f"{early['test'][0] - single[0]:+.4f} (stopped after {early['stopped']} of {E} epochs).")

    notes = []
    if indep_full[-1][0] > single[0]:
        notes.append("independent ensembles add accuracy, as claimed (at M times the cost)")
    if snap_members[-1][0] <= single[0]:
        notes.append("the snapshot ensemble does NOT beat the single model's accuracy at equal cost here"
                     + (" (it lowers the NLL)" if snap_members[-1][1] < single[1] else ""))
    if early["test"][0] < single[0]:
        notes.append("early stopping on the validation loss stops too early for accuracy: the loss turns up "
                     "(over-confident predictions) while the accuracy still improves")
    print("Agreements and disagreements: " + "; ".join(notes or ["every claim holds in this run"]) + ".")

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    ep = np.arange(1, E + 1)
    axes[0].plot(ep, curve["val_loss"], "C0", label="model")
    axes[0].plot(ep, curve["ema_val_loss"], "C1", label=f"EMA (decay {EMA_DECAY})")
    axes[0].axvline(early["epoch"], color="C2", ls="--", label=f"early stopping: best epoch {early['epoch']}")
    axes[0].axvline(early["stopped"], color="C2", ls=":", label=f"stopper fired at {early['stopped']}")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("validation NLL")
    axes[0].set_title("single run: validation loss")
    axes[0].legend(fontsize=8)
    axes[1].plot(np.arange(1, len(snap_curve) + 1), snap_curve, "C0", label="snapshot run (val acc)")
    for k in range(M):
        axes[1].axvline((k + 1) * cycle, color="0.7", lw=0.8)
    axes[1].plot(ep, curve["val_acc"], "C3", lw=0.8, label="constant-rate run (val acc)")
    axes[1].set_xlabel("epoch (grey: snapshot taken, learning rate restarted)")
    axes[1].set_title("cosine cycles and snapshots")
    axes[1].legend(fontsize=8)
    ks = np.arange(1, M + 1)
    axes[2].plot(ks, [a for a, _ in snap_members], "o-", label=f"snapshot ensemble (total {cycle * M} epochs)")
    axes[2].plot(ks, [a for a, _ in indep_same], "s-", label=f"independent, {cycle} epochs each")
    axes[2].plot(ks, [a for a, _ in indep_full], "^-", label=f"independent, {E} epochs each")
    axes[2].axhline(single[0], color="C3", ls="--", label="single model")
    axes[2].axhline(res[f"EMA of weights (decay {EMA_DECAY})"][0][0], color="C1", ls=":", label="EMA")
    axes[2].set_xlabel("members averaged")
    axes[2].set_ylabel("test accuracy")
    axes[2].set_title("ensembles on the test split")
    axes[2].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path = save(fig, args.out, "ensembles.png")
    print(f"wrote {path} ({time.perf_counter() - t0:.1f} s)")
    return res


if __name__ == "__main__":
    main()
