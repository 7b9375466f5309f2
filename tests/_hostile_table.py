"""The table behind tests/test_hostile_api.py: every public callable of the array API with a maker
of valid arguments, which of them are arrays (only read, or written / read-then-written) and which
are hyper-parameters (with their kind: what a hostile value of that kind is).

``public_callables()`` enumerates the API from dir() of the public modules (and the public methods
of the public classes), so a new function without an entry here fails
test_every_public_callable_has_an_entry. Paths name nested arguments the way the error messages
do: ``params[0]``, ``mask.bits``, ``weights['w']``, ``saved.mean``.
"""
from __future__ import annotations

import inspect
import types
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import regcore as rc

F32, F64 = np.float32, np.float64
MODULES = {"regcore": rc, "regcore.random": rc.random, "regcore.init": rc.init, "regcore.optim": rc.optim,
           "regcore.preprocess": rc.preprocess}

# Names dir() shows that are not API of their own, each with why.
EXCLUDED = {
    # helpers the submodules import for their own use (not in their __all__; the public function
    # of the same name is tested where it is exported)
    **{f"regcore.random.{n}": "imported helper" for n in
       ("backend_for", "blocks_for", "normal_params", "resolve", "uniform_bounds", "uniform_params", "value_error")},
    **{f"regcore.init.{n}": "imported helper" for n in
       ("backend_for", "blocks_for", "normal_params", "resolve", "uniform_bounds", "uniform_params", "value_error",
        "host_backend")},
    **{f"regcore.preprocess.{n}": "imported helper (public as regcore.batch_norm_stats / merge_stats)"
       for n in ("batch_norm_stats", "merge_stats", "type_error", "value_error")},
    # exception types: nothing to call with hostile arguments
    "regcore.preprocess.NotFittedError": "an exception class",
    # result types: built by the calls that return them, never by users; their fields are
    # tampered with as arguments of the calls that take them (mask.bits, saved.mean, state.x)
    "regcore.DropoutMask": "result type", "regcore.ChannelDropoutMask": "result type",
    "regcore.AlphaDropoutMask": "result type", "regcore.BiasActDropoutState": "result type",
    "regcore.BatchNormSaved": "result type", "regcore.NormSaved": "result type",
}


def public_callables() -> list[str]:
    """Every public callable: functions and classes of the public modules, and the public
    methods of those classes (``regcore.EarlyStopping.step``), minus EXCLUDED."""
    names = set()
    for mod_name, mod in MODULES.items():
        for n in dir(mod):
            if n.startswith("_"):
                continue
            obj = getattr(mod, n)
            if isinstance(obj, types.ModuleType) or not callable(obj):
                continue
            home = "regcore.optim" if mod is rc and n in ("penalty", "sgd_step_", "sgd_step_multi_") else mod_name
            if inspect.isclass(obj):
                for m in dir(obj):
                    if m.startswith("_") or isinstance(inspect.getattr_static(obj, m), property):
                        continue
                    if callable(getattr(obj, m)) and getattr(object, m, None) is None and not issubclass(obj, BaseException):
                        names.add(f"{home}.{n}.{m}")
            names.add(f"{home}.{n}")
    return sorted(n for n in names if n not in EXCLUDED)


@dataclass
class Entry:
    make: Callable[[], dict]                  # fresh valid keyword arguments (and "self" for a method)
    fn: Callable | None = None                # called as fn(**kwargs) (or via ``call``)
    read: tuple = ()                          # paths of arrays only read
    written: tuple = ()                       # paths of arrays written or read then written
    hyper: dict = field(default_factory=dict)  # name -> kind (see _hostile.EDGES)
    allow: tuple = ()                         # (written, read) pairs that may be exactly the same array
    call: Callable[[dict], Any] | None = None
    global_state: bool = False                # changes process state on success (restored by the runner)
    needs_native: bool = False                # only meaningful with the native CPU module
    runs_user_code: bool = False              # calls the caller's function, which may draw before a failure
    converts: dict = field(default_factory=dict)  # path -> "asarray" (documented: anything np.asarray
    #                                             reads, except masked/bool/complex/object) or "any"
    #                                             (a user's own state, copied as it is)


def arr(shape, dtype=F32, k=0):
    n = int(np.prod(shape))
    return (np.linspace(-1.5, 1.7, n) * (1 + 0.1 * k) + 0.05 * k).astype(dtype).reshape(shape)


def pos(shape, dtype=F32, k=0):
    return (np.abs(arr(shape, F64, k)) + 0.5).astype(dtype)


def gen():
    return rc.Generator(5)


def method(cls_path: str):
    def call(kw):
        kw = dict(kw)
        return getattr(kw.pop("self"), cls_path)(**kw)
    return call


def entered(fn):
    """Context managers validate when entered: enter and leave at once."""
    def call(kw):
        with fn(**kw):
            pass
    return call


P = "real"   # shorthand kinds
DROP = {"p": "prob", "generator": "gen", "mode": "choice", "mask": "choice"}
XS = (4, 3, 5)   # (N, C, S) of the norm calls


def _dropout_fwd():
    return dict(x=arr((4, 6)), p=0.3, generator=gen(), out=np.zeros((4, 6), F32))


def _mask_call(fwd, **kw):
    """Valid arguments of a backward call: the forward's mask, with kind "bits"."""
    def make():
        y, m = fwd()
        return dict(dy=arr(y.shape, y.dtype, 1), mask=m, out=np.zeros(y.shape, y.dtype), **kw)
    return make


def _bn():
    x, g, b = arr(XS), pos((3,)), arr((3,), k=2)
    y, saved = rc.batch_norm(x, g, b)
    return x, g, b, saved


def _norm(kind):
    if kind == "layer_norm":
        x = arr((4, 6)); g, b = pos((6,)), arr((6,), k=1)
        y, s = rc.layer_norm(x, g, b)
    elif kind == "group_norm":
        x = arr((2, 4, 3)); g, b = pos((4,)), arr((4,), k=1)
        y, s = rc.group_norm(x, 2, g, b)
    else:
        x = arr(XS); g, b = pos((3,)), arr((3,), k=1)
        y, s = rc.instance_norm(x, g, b)
    return x, g, b, s


SAVED_ARRAYS = ("saved.mean", "saved.var", "saved.rstd")


def _early(restore=False, stepped=False):
    es = rc.EarlyStopping("loss", patience=2, restore_best_weights=restore)
    if stepped:
        es.step(1.0, {"w": arr((3,))})
    return es


def _sgd():
    return rc.optim.SGD([arr((3, 4)), arr((4,), k=1)], lr=0.1, momentum=0.9)


SGD_HYPER = {"lr": "real", "momentum": "real", "dampening": "real", "nesterov": "bool", "weight_decay": "real",
             "decoupled_weight_decay": "real", "l1": "real", "l1_mode": "choice", "max_norm": "real",
             "max_norm_axis": "int", "maximize": "bool"}


def _fitted(cls, **kw):
    def make():
        est = cls(**kw)
        est.fit(arr((12, 4), F64))
        return est
    return make


def build() -> dict[str, Entry]:
    T: dict[str, Entry] = {}
    none = lambda: {}   # noqa: E731

    # ---------------------------------------------------------------- process settings, build info
    for n in ("active_isa", "available_isas", "build_info", "default_generator", "get_num_threads",
              "buffer_cache_info", "empty_buffer_cache"):
        T[f"regcore.{n}"] = Entry(none, getattr(rc, n))
    T["regcore.set_isa"] = Entry(lambda: dict(level=rc.active_isa()), rc.set_isa, hyper={"level": "choice"},
                                 global_state=True, needs_native=True)
    T["regcore.set_num_threads"] = Entry(lambda: dict(n=1), rc.set_num_threads, hyper={"n": "count"},
                                         global_state=True)
    T["regcore.set_buffer_cache_limit"] = Entry(lambda: dict(nbytes=rc.buffer_cache_info()["limit"]),
                                                rc.set_buffer_cache_limit, hyper={"nbytes": "count"},
                                                global_state=True)
    # "at most n" threads: a huge n is a valid (no-op) cap, as in threadpoolctl
    T["regcore.threadpool_limits"] = Entry(lambda: dict(n=1), hyper={"n": "int"}, call=entered(rc.threadpool_limits))
    T["regcore.use_backend"] = Entry(lambda: dict(name="numpy"), hyper={"name": "choice"}, call=entered(rc.use_backend))
    T["regcore.seed"] = Entry(lambda: dict(value=3), rc.seed, hyper={"value": "int"}, global_state=True)

    # ---------------------------------------------------------------- Generator
    T["regcore.Generator"] = Entry(lambda: dict(seed=3), rc.Generator, hyper={"seed": "int"})
    T["regcore.Generator.reserve"] = Entry(lambda: dict(self=gen(), blocks=2), hyper={"blocks": "int"},
                                           call=method("reserve"))
    T["regcore.Generator.from_state"] = Entry(lambda: dict(state={"algorithm": "philox4x32-10", "seed": 1, "offset": 4}),
                                              rc.Generator.from_state, hyper={"state": "obj"})
    T["regcore.Generator.set_state"] = Entry(lambda: dict(self=gen(), state={"algorithm": "philox4x32-10", "seed": 1,
                                                                             "offset": 4}),
                                             hyper={"state": "obj"}, call=method("set_state"))

    # ---------------------------------------------------------------- random
    for n in ("uniform", "normal"):
        lo, hi = ("low", "high") if n == "uniform" else ("mean", "std")
        T[f"regcore.random.{n}_"] = Entry(lambda: dict(x=arr((5, 3)), generator=gen()), getattr(rc.random, n + "_"),
                                          written=("x",), hyper={lo: P, hi: P, "generator": "gen"})
        T[f"regcore.random.{n}"] = Entry(lambda: dict(shape=(5, 3), generator=gen()), getattr(rc.random, n),
                                         hyper={"shape": "shape", lo: P, hi: P, "dtype": "dtype", "generator": "gen",
                                                "like": "like"})
    T["regcore.random.bits_"] = Entry(lambda: dict(out=np.zeros(7, np.uint32), generator=gen()), rc.random.bits_,
                                      written=("out",), hyper={"generator": "gen"})
    T["regcore.random.bits"] = Entry(lambda: dict(shape=(7,), generator=gen()), rc.random.bits,
                                     hyper={"shape": "shape", "generator": "gen", "like": "like"})

    # ---------------------------------------------------------------- init
    I = rc.init
    T["regcore.init.calculate_gain"] = Entry(lambda: dict(nonlinearity="leaky_relu", param=0.2), I.calculate_gain,
                                             hyper={"nonlinearity": "choice", "param": P})
    T["regcore.init.fan_in_and_fan_out"] = Entry(lambda: dict(shape=(4, 3, 2)), I.fan_in_and_fan_out,
                                                 hyper={"shape": "shape", "layout": "choice"})
    T["regcore.init.trunc_normal_parent_std"] = Entry(lambda: dict(std=1.0, mean=0.0, a=-2.0, b=2.0),
                                                      I.trunc_normal_parent_std,
                                                      hyper={"std": P, "mean": P, "a": P, "b": P})
    fan = {"layout": "choice"}
    init_kinds = {
        "zeros": ({}, False), "ones": ({}, False), "constant": ({"value": P}, False),
        "uniform": ({"a": P, "b": P}, True), "normal": ({"mean": P, "std": P}, True),
        "trunc_normal": ({"mean": P, "std": P, "a": P, "b": P, "std_is": "choice"}, True),
        "xavier_uniform": ({"gain": P, **fan}, True), "xavier_normal": ({"gain": P, **fan}, True),
        "kaiming_uniform": ({"a": P, "mode": "choice", "nonlinearity": "choice", **fan}, True),
        "kaiming_normal": ({"a": P, "mode": "choice", "nonlinearity": "choice", **fan}, True),
        "lecun_uniform": (dict(fan), True), "lecun_normal": (dict(fan), True),
        "orthogonal": ({"gain": P, **fan}, True), "sparse": ({"k": "int", "std": P, **fan}, True),
    }
    for n, (hyper, random) in init_kinds.items():
        extra = {"value": 0.5} if n == "constant" else {"k": 1} if n == "sparse" else {}
        g = {"generator": "gen"} if random else {}

        def mk_(extra=extra, random=random):
            return dict(x=arr((4, 3)), **extra, **({"generator": gen()} if random else {}))

        def mk(extra=extra, random=random):
            return dict(shape=(4, 3), **extra, **({"generator": gen()} if random else {}))
        T[f"regcore.init.{n}_"] = Entry(mk_, getattr(I, n + "_"), written=("x",), hyper={**hyper, **g})
        T[f"regcore.init.{n}"] = Entry(mk, getattr(I, n), hyper={"shape": "shape", "dtype": "dtype", "like": "like",
                                                                 **hyper, **g})

    # ---------------------------------------------------------------- dropout family
    T["regcore.dropout"] = Entry(_dropout_fwd, rc.dropout, read=("x",), written=("out",), hyper=DROP,
                                 allow=(("out", "x"),))
    T["regcore.dropout_"] = Entry(lambda: dict(x=arr((4, 6)), p=0.3, generator=gen()), rc.dropout_, written=("x",),
                                  hyper=DROP)
    T["regcore.dropconnect"] = Entry(lambda: dict(w=arr((4, 6)), p=0.3, generator=gen()), rc.dropconnect, read=("w",),
                                     hyper=DROP)
    T["regcore.dropout_backward"] = Entry(_mask_call(lambda: rc.dropout(arr((4, 6)), 0.3, generator=gen())),
                                          rc.dropout_backward, read=("dy", "mask.bits"), written=("out",),
                                          hyper={"mask": "obj", "mask.seed": "int", "mask.offset": "int",
                                                 "mask.kind": "choice", "mask.shape": "shape"},
                                          allow=(("out", "dy"),))
    T["regcore.dropout_scale"] = Entry(lambda: dict(x=arr((4, 6)), p=0.3), rc.dropout_scale, read=("x",),
                                       hyper={"p": "prob"})
    T["regcore.gaussian_noise"] = Entry(lambda: dict(x=arr((4, 6)), std=0.2, generator=gen()), rc.gaussian_noise,
                                        read=("x",), hyper={"std": P, "mode": "choice", "generator": "gen"})
    T["regcore.bias_act_dropout"] = Entry(
        lambda: dict(x=arr((4, 6)), bias=arr((6,), k=1), p=0.3, residual=arr((4, 6), k=2), generator=gen(),
                     out=np.zeros((4, 6), F32)),
        rc.bias_act_dropout, read=("x", "bias", "residual"), written=("out",),
        hyper={**DROP, "activation": "choice"}, allow=(("out", "x"), ("out", "residual")))

    def _bad():
        x, b = arr((4, 6)), arr((6,), k=1)
        y, st = rc.bias_act_dropout(x, b, "gelu", 0.3, generator=gen())
        return dict(dy=arr((4, 6), k=3), state=st, out=np.zeros((4, 6), F32))
    T["regcore.bias_act_dropout_backward"] = Entry(_bad, rc.bias_act_dropout_backward,
                                                   read=("dy", "state.x", "state.bias", "state.mask.bits"),
                                                   written=("out",), hyper={"state": "obj"}, allow=(("out", "dy"),))
    T["regcore.mc_dropout"] = Entry(
        lambda: dict(forward_fn=lambda x, g: rc.dropout(x, 0.5, generator=g)[0], x=arr((3, 4)), samples=3,
                     generator=gen()),
        rc.mc_dropout, read=("x",), hyper={"forward_fn": "callable", "samples": "count", "ddof": "int",
                                           "generator": "gen"}, runs_user_code=True)
    for cls in ("DropoutMask", "AlphaDropoutMask"):
        fwd = (lambda: rc.dropout(arr((4, 6)), 0.3, generator=gen())[1]) if cls == "DropoutMask" else \
            (lambda: rc.alpha_dropout(arr((4, 6)), 0.3, generator=gen())[1])
        for m in ("kernel_args", "to_numpy"):
            T[f"regcore.{cls}.{m}"] = Entry(lambda fwd=fwd: dict(self=fwd()), call=method(m))
    T["regcore.ChannelDropoutMask.to_numpy"] = Entry(
        lambda: dict(self=rc.channel_dropout(arr((2, 3, 4)), 0.5, generator=gen())[1]), call=method("to_numpy"))

    # ---------------------------------------------------------------- channel / alpha dropout
    chw = lambda: dict(x=arr((2, 3, 4)), p=0.4, generator=gen(), out=np.zeros((2, 3, 4), F32))  # noqa: E731
    for n in ("channel_dropout", "feature_alpha_dropout"):
        hyper = {**DROP, "layout": "choice"}
        if n == "feature_alpha_dropout":
            del hyper["mode"]
        T[f"regcore.{n}"] = Entry(chw, getattr(rc, n), read=("x",), written=("out",), hyper=hyper,
                                  allow=(("out", "x"),))
    T["regcore.alpha_dropout"] = Entry(_dropout_fwd, rc.alpha_dropout, read=("x",), written=("out",),
                                       hyper={"p": "prob", "generator": "gen", "mask": "choice"}, allow=(("out", "x"),))
    T["regcore.alpha_coefficients"] = Entry(lambda: dict(p=0.3, dtype=F32), rc.alpha_coefficients,
                                            hyper={"p": "prob", "dtype": "dtype"})
    for n, fwd in (("channel_dropout", rc.channel_dropout), ("feature_alpha_dropout", rc.feature_alpha_dropout),
                   ("alpha_dropout", rc.alpha_dropout)):
        shp = (4, 6) if n == "alpha_dropout" else (2, 3, 4)
        T[f"regcore.{n}_backward"] = Entry(_mask_call(lambda fwd=fwd, shp=shp: fwd(arr(shp), 0.4, generator=gen())),
                                           getattr(rc, f"{n}_backward"), read=("dy", "mask.bits"), written=("out",),
                                           hyper={"mask": "obj", "mask.seed": "int", "mask.offset": "int",
                                                  "mask.kind": "choice", "mask.shape": "shape"},
                                           allow=(("out", "dy"),))

    # ---------------------------------------------------------------- batch norm
    BN = {"momentum": P, "eps": P, "axis": "int", "activation": "choice"}
    T["regcore.batch_norm"] = Entry(
        lambda: dict(x=arr(XS), gamma=pos((3,)), beta=arr((3,), k=1), running_mean=arr((3,), k=2),
                     running_var=pos((3,), k=3), training=True),
        rc.batch_norm, read=("x", "gamma", "beta"), written=("running_mean", "running_var"),
        hyper={**BN, "training": "bool", "num_batches_tracked": "int"})
    T["regcore.batch_norm_stats"] = Entry(lambda: dict(x=arr(XS)), rc.batch_norm_stats, read=("x",),
                                          hyper={"axis": "int"})
    T["regcore.merge_stats"] = Entry(lambda: dict(stats=[rc.batch_norm_stats(arr(XS)), rc.batch_norm_stats(arr(XS, k=1))]),
                                     rc.merge_stats, read=("stats[0]", "stats[1]"), hyper={"stats": "obj"})
    T["regcore.batch_norm_apply"] = Entry(
        lambda: dict(x=arr(XS), stats=rc.batch_norm_stats(arr(XS)), gamma=pos((3,)), beta=arr((3,), k=1),
                     running_mean=arr((3,), k=2), running_var=pos((3,), k=3)),
        rc.batch_norm_apply, read=("x", "stats", "gamma", "beta"), written=("running_mean", "running_var"),
        hyper={**BN, "num_batches_tracked": "int"})

    def _bn_saved():
        x, g, b, s = _bn()
        return dict(x=x, mean=s.mean.copy(), var=s.var.copy(), gamma=g, beta=b, count=4 * 5)
    T["regcore.batch_norm_saved"] = Entry(_bn_saved, rc.batch_norm_saved, read=("x", "mean", "var", "gamma", "beta"),
                                          hyper={"count": P, "eps": P, "axis": "int", "activation": "choice",
                                                 "batch_stats": "bool"})

    def _bn_bwd(reduce=False, apply=False):
        def make():
            x, g, b, s = _bn()
            kw = dict(dy=arr(XS, k=4), x=x, saved=s)
            if not reduce:
                kw["gamma"] = g
            if apply:
                kw["red_total"] = rc.batch_norm_backward_reduce(kw["dy"], x, s)
            return kw
        return make
    T["regcore.batch_norm_backward"] = Entry(_bn_bwd(), rc.batch_norm_backward, read=("dy", "x", "gamma", *SAVED_ARRAYS),
                                             hyper={"saved": "obj"})
    T["regcore.batch_norm_backward_reduce"] = Entry(_bn_bwd(reduce=True), rc.batch_norm_backward_reduce,
                                                    read=("dy", "x", *SAVED_ARRAYS), hyper={"saved": "obj"})
    T["regcore.batch_norm_backward_apply"] = Entry(_bn_bwd(apply=True), rc.batch_norm_backward_apply,
                                                   read=("dy", "x", "gamma", "red_total", *SAVED_ARRAYS),
                                                   hyper={"saved": "obj"})

    # ---------------------------------------------------------------- layer / group / instance norm
    T["regcore.layer_norm"] = Entry(lambda: dict(x=arr((4, 6)), gamma=pos((6,)), beta=arr((6,), k=1)), rc.layer_norm,
                                    read=("x", "gamma", "beta"), hyper={"axes": "int", "eps": P})
    T["regcore.group_norm"] = Entry(lambda: dict(x=arr((2, 4, 3)), groups=2, gamma=pos((4,)), beta=arr((4,), k=1)),
                                    rc.group_norm, read=("x", "gamma", "beta"), hyper={"groups": "count", "eps": P})
    T["regcore.instance_norm"] = Entry(
        lambda: dict(x=arr(XS), gamma=pos((3,)), beta=arr((3,), k=1), running_mean=arr((3,), k=2),
                     running_var=pos((3,), k=3)),
        rc.instance_norm, read=("x", "gamma", "beta"), written=("running_mean", "running_var"),
        hyper={"momentum": P, "eps": P, "training": "bool", "num_batches_tracked": "int"})
    for kind in ("layer_norm", "group_norm", "instance_norm"):
        def bwd(kind=kind):
            x, g, b, s = _norm(kind)
            return dict(dy=arr(x.shape, k=5), x=x, gamma=g, saved=s)

        def sav(kind=kind):
            x, g, b, s = _norm(kind)
            kw = dict(x=x, mean=s.mean.copy(), var=s.var.copy(), gamma=g, beta=b)
            if kind == "group_norm":
                kw["groups"] = 2
            return kw
        T[f"regcore.{kind}_backward"] = Entry(bwd, getattr(rc, f"{kind}_backward"),
                                              read=("dy", "x", "gamma", *SAVED_ARRAYS), hyper={"saved": "obj"})
        sh = {"eps": P, **({"groups": "count"} if kind == "group_norm" else {}),
              **({"axes": "int"} if kind == "layer_norm" else {}),
              **({"batch_stats": "bool"} if kind == "instance_norm" else {})}
        T[f"regcore.{kind}_saved"] = Entry(sav, getattr(rc, f"{kind}_saved"), read=("x", "mean", "var", "gamma", "beta"),
                                           hyper=sh)

    # ---------------------------------------------------------------- SGD, penalty, averaging
    O = rc.optim
    T["regcore.optim.sgd_step_"] = Entry(
        lambda: dict(param=arr((3, 4)), grad=arr((3, 4), k=1), momentum_buf=arr((3, 4), k=2), weight_decay=0.01),
        O.sgd_step_, read=("grad",), written=("param", "momentum_buf"), hyper=SGD_HYPER)
    T["regcore.optim.sgd_step_multi_"] = Entry(
        lambda: dict(params=[arr((3, 4)), arr((5,), k=1)], grads=[arr((3, 4), k=2), arr((5,), k=3)],
                     momentum_bufs=[arr((3, 4), k=4), arr((5,), k=5)]),
        O.sgd_step_multi_, read=("grads[0]", "grads[1]"),
        written=("params[0]", "params[1]", "momentum_bufs[0]", "momentum_bufs[1]"),
        hyper={**SGD_HYPER, "fresh_buffers": "bool", "params": "obj", "grads": "obj"})
    T["regcore.optim.penalty"] = Entry(lambda: dict(params=[arr((3, 4)), arr((5,))], l1=0.1, l2=0.2), O.penalty,
                                       read=("params[0]", "params[1]"), hyper={"l1": P, "l2": P, "params": "obj"})
    T["regcore.optim.split_decay_groups"] = Entry(lambda: dict(named_params={"w": arr((3, 4)), "bias": arr((4,))}),
                                                  O.split_decay_groups, hyper={"named_params": "obj"})
    T["regcore.optim.SGD"] = Entry(lambda: dict(params=[arr((3, 4)), arr((4,))], lr=0.1, momentum=0.9), O.SGD,
                                   hyper={"params": "obj", "lr": P, "momentum": P, "nesterov": "bool"})
    T["regcore.optim.SGD.step"] = Entry(lambda: dict(self=_sgd(), grads=[arr((3, 4), k=1), arr((4,), k=2)]),
                                        read=("grads[0]", "grads[1]"), written=("self.param_groups[0]['params'][0]",
                                                                                 "self.param_groups[0]['params'][1]"),
                                        hyper={"grads": "obj"}, call=method("step"))
    T["regcore.optim.SGD.state_dict"] = Entry(lambda: dict(self=_sgd()), call=method("state_dict"))
    T["regcore.optim.SGD.load_state_dict"] = Entry(lambda: dict(self=_sgd(), state_dict=_sgd().state_dict()),
                                                   hyper={"state_dict": "obj"}, call=method("load_state_dict"))
    for n, h in (("ema_update_", {"decay": "prob"}), ("swa_update_", {"n_averaged": "int"})):
        T[f"regcore.{n}"] = Entry(
            lambda n=n: dict(averages=[arr((3, 4)), arr((5,), k=1)], params=[arr((3, 4), k=2), arr((5,), k=3)],
                             **({"decay": 0.9} if n == "ema_update_" else {"n_averaged": 2})),
            getattr(rc, n), read=("params[0]", "params[1]"), written=("averages[0]", "averages[1]"),
            hyper={**h, "averages": "obj", "params": "obj"})

    # ---------------------------------------------------------------- EarlyStopping
    T["regcore.EarlyStopping"] = Entry(lambda: dict(monitor="loss", mode="min", patience=2, min_delta=0.0),
                                       rc.EarlyStopping,
                                       hyper={"monitor": "str", "mode": "choice", "patience": "int", "min_delta": P,
                                              "restore_best_weights": "bool", "check_finite": "bool"})
    T["regcore.EarlyStopping.reset"] = Entry(lambda: dict(self=_early()), call=method("reset"))
    T["regcore.EarlyStopping.improves"] = Entry(lambda: dict(self=_early(stepped=True), value=0.5),
                                                hyper={"value": "metric"}, call=method("improves"))
    T["regcore.EarlyStopping.step"] = Entry(lambda: dict(self=_early(restore=True), value=0.5, weights={"w": arr((3,))}),
                                            read=("weights['w']",), hyper={"value": "metric", "weights": "obj"},
                                            call=method("step"), converts={"weights['w']": "any"})
    T["regcore.EarlyStopping.restore"] = Entry(lambda: dict(self=_early(restore=True, stepped=True),
                                                            weights={"w": arr((3,), k=1)}),
                                               written=("weights['w']",), hyper={"weights": "obj"},
                                               call=method("restore"), converts={"weights['w']": "any"})

    # ---------------------------------------------------------------- preprocess
    PP = rc.preprocess
    ctors = {"StandardScaler": ({}, {"with_mean": "bool", "with_std": "bool"}), "MeanSubtraction": ({}, {}),
             "PCA": ({"n_components": 2}, {"n_components": "int", "whiten": "bool", "eps": P}),
             "ZCA": ({}, {"eps": P})}
    for cname, (kw, hyper) in ctors.items():
        cls = getattr(PP, cname)
        T[f"regcore.preprocess.{cname}"] = Entry(lambda kw=kw: dict(kw), cls, hyper=hyper)
        for m in ("fit", "partial_fit", "fit_transform"):
            T[f"regcore.preprocess.{cname}.{m}"] = Entry(lambda cls=cls, kw=kw: dict(self=cls(**kw), X=arr((12, 4), F64)),
                                                         read=("X",), call=method(m), converts={"X": "asarray"})
        for m in ("transform", "inverse_transform"):
            width = 2 if cname == "PCA" and m == "inverse_transform" else 4
            arg = "Z" if cname in ("PCA", "ZCA") and m == "inverse_transform" else "X"
            T[f"regcore.preprocess.{cname}.{m}"] = Entry(
                lambda cls=cls, kw=kw, width=width, arg=arg: {"self": _fitted(cls, **kw)(),
                                                              arg: arr((5, width), F64, k=1)},
                read=(arg,), call=method(m), converts={arg: "asarray"})
    return T
