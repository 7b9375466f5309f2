"""Every public layer/group/instance-norm call on one set of arrays, for the tests that run them
in two places (another namespace, a CUDA device) and compare the results."""
from __future__ import annotations

import regcore as rc


def every_norm_call(x, dy, g, b, lg, lb, rm, rv):
    """{name: (y, dx, dgamma, dbeta[, running_mean, running_var])}. g, b: per channel (C,);
    lg, lb: per element of the last axis; rm, rv: instance-norm running statistics, updated in
    place by the training call (the inference call leaves them)."""
    out = {}
    y, s = rc.layer_norm(x, lg, lb, axes=-1)
    out["ln"] = (y, *rc.layer_norm_backward(dy, x, lg, s))
    y, s = rc.layer_norm(x, None, None, axes=(-2, -1))
    out["ln2"] = (y, *rc.layer_norm_backward(dy, x, None, s))
    y, s = rc.group_norm(x, 2, g, b)
    out["gn"] = (y, *rc.group_norm_backward(dy, x, g, s))
    y, s = rc.instance_norm(x, g, b, rm, rv, momentum=0.3)
    out["in_train"] = (y, *rc.instance_norm_backward(dy, x, g, s), rm, rv)
    y, s = rc.instance_norm(x, g, b, rm, rv, training=False)
    out["in_eval"] = (y, *rc.instance_norm_backward(dy, x, g, s))
    return out
