"""One MPI rank of the distributed batch-norm check (run by tests/test_batchnorm_mpi.py):

    mpirun -n 2 python tests/mpi_batchnorm_worker.py

Every rank builds the same global batch from a fixed seed, keeps its own slice along N (equal and
unequal splits, channel-first and channels-last), and runs the split API with MPI collectives:
all-gather of the (3, C) statistics -> merge_stats -> batch_norm_apply, then all-reduce of the
(2, C) gradient sums -> batch_norm_backward_apply. Each rank compares its slice of y and dx, the
parameter gradients and the running statistics with single-process batch_norm on the whole batch.
Exit status 0 when every case agrees; the failures are printed otherwise.
"""
from __future__ import annotations

import sys

import numpy as np
from mpi4py import MPI

import regcore as rc

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()

CASES = [
    # shape, axis, dtype, rows of rank 0 (the rest go to the other ranks evenly)
    ((8, 5, 6, 7), 1, np.float64, 4),
    ((9, 5, 6, 7), 1, np.float64, 2),
    ((10, 4, 3, 11), -1, np.float64, 7),
    ((12, 3, 50), 1, np.float32, 5),
]


def split_rows(n, first):
    rest = n - first
    counts = [first] + [rest // (size - 1) + (1 if r < rest % (size - 1) else 0) for r in range(size - 1)]
    starts = np.concatenate([[0], np.cumsum(counts)])
    return int(starts[rank]), int(starts[rank + 1])


def run_case(shape, axis, dtype, first):
    rng = np.random.default_rng(1234)
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    C = shape[axis]
    gamma = (rng.standard_normal(C) + 1).astype(dtype)
    beta = rng.standard_normal(C).astype(dtype)
    rm0, rv0 = np.zeros(C, dtype), np.ones(C, dtype)

    # single process, whole batch
    rm_ref, rv_ref = rm0.copy(), rv0.copy()
    y_ref, saved_ref = rc.batch_norm(x, gamma, beta, rm_ref, rv_ref, momentum=0.1, axis=axis, activation="relu")
    dx_ref, dg_ref, db_ref = rc.batch_norm_backward(dy, x, gamma, saved_ref)

    # distributed: this rank's rows only
    lo, hi = split_rows(shape[0], first)
    xl, dyl = np.ascontiguousarray(x[lo:hi]), np.ascontiguousarray(dy[lo:hi])
    rm, rv = rm0.copy(), rv0.copy()
    local = rc.batch_norm_stats(xl, axis=axis)
    gathered = np.empty((size, 3, C), np.float64)
    comm.Allgather(local, gathered)
    total = rc.merge_stats(gathered)
    yl, saved = rc.batch_norm_apply(xl, total, gamma, beta, rm, rv, momentum=0.1, axis=axis, activation="relu")
    red = rc.batch_norm_backward_reduce(dyl, xl, saved)
    red_total = np.empty_like(red)
    comm.Allreduce(red, red_total, op=MPI.SUM)
    dxl, dg, db = rc.batch_norm_backward_apply(dyl, xl, gamma, saved, red_total)

    tol = 1e-12 if dtype == np.float64 else 1e-5
    errors = []
    for name, got, want in (("y", yl, y_ref[lo:hi]), ("dx", dxl, dx_ref[lo:hi]), ("dgamma", dg, dg_ref),
                            ("dbeta", db, db_ref), ("running_mean", rm, rm_ref), ("running_var", rv, rv_ref)):
        scale = max(1.0, float(np.abs(want).max())) if want.size else 1.0
        err = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max()) if want.size else 0.0
        if not err <= tol * scale:
            errors.append(f"rank {rank} {shape} axis={axis} {np.dtype(dtype).name} rows [{lo},{hi}): "
                          f"{name} max error {err:.3g} > {tol * scale:.3g}")
    return errors


def main():
    errors = []
    for case in CASES:
        errors += run_case(*case)
    everything = comm.gather(errors, root=0)
    if rank == 0:
        flat = [e for errs in everything for e in errs]
        for e in flat:
            print(e)
        print(f"mpi batchnorm: {len(CASES)} cases on {size} ranks, {len(flat)} failures")
        status = 1 if flat else 0
    else:
        status = None
    status = comm.bcast(status, root=0)
    sys.exit(status)


if __name__ == "__main__":
    main()
