"""regcore.torch.nn.init: torch.nn.init's names and signatures on regcore's samplers, in place
under no_grad on parameters; generator semantics (regcore.Generator: the array API's values;
None: tied to torch.manual_seed; torch.Generator: drawn from it); torch's sparse_ law."""
from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from _torch_helpers import rct, torch

import regcore as rc

init = rct.nn.init


def test_names_and_signatures_are_torchs():
    for name in init.__all__:
        ours, theirs = getattr(init, name), getattr(torch.nn.init, name)
        assert list(inspect.signature(ours).parameters) == list(inspect.signature(theirs).parameters), name


@pytest.mark.parametrize("name,args", [("uniform_", (-0.5, 0.5)), ("normal_", (0.1, 2.0)),
                                       ("trunc_normal_", (0.0, 1.0, -1.5, 2.0)), ("xavier_uniform_", (1.5,)),
                                       ("xavier_normal_", ()), ("kaiming_uniform_", (0.1, "fan_out", "relu")),
                                       ("kaiming_normal_", (0, "fan_in", "tanh")), ("orthogonal_", (2.0,))])
def test_regcore_generator_gives_the_array_api_values(name, args):
    w = torch.nn.Parameter(torch.empty(8, 5, 3))
    out = getattr(init, name)(w, *args, generator=rc.Generator(4))
    assert out is w and w.requires_grad and w._version > 0
    ref = np.empty((8, 5, 3), np.float32)
    getattr(rc.init, name)(ref, *args, generator=rc.Generator(4))
    np.testing.assert_array_equal(w.detach().numpy(), ref)


def test_manual_seed_and_torch_generator():
    a, b = torch.empty(20, 10), torch.empty(20, 10)
    torch.manual_seed(1)
    init.kaiming_uniform_(a)
    torch.manual_seed(1)
    init.kaiming_uniform_(b)
    assert torch.equal(a, b)
    init.kaiming_uniform_(b)
    assert not torch.equal(a, b)
    init.normal_(a, generator=torch.Generator().manual_seed(3))
    init.normal_(b, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_layout_does_not_change_values():
    a = torch.empty(4, 3, 2, 2)
    b = torch.empty(4, 3, 2, 2).contiguous(memory_format=torch.channels_last)
    init.xavier_normal_(a, generator=rc.Generator(2))
    init.xavier_normal_(b, generator=rc.Generator(2))
    assert torch.equal(a, b) and b.is_contiguous(memory_format=torch.channels_last)


def test_sparse_keeps_torchs_law():
    w = torch.empty(10, 7)
    init.sparse_(w, 0.3, std=0.5, generator=rc.Generator(1))
    assert ((w == 0).sum(dim=0) == 3).all()   # ceil(0.3 * 10) zeros per column
    with pytest.raises(ValueError):
        init.sparse_(torch.empty(2, 3, 4), 0.5)


def test_constants_and_gain():
    w = torch.nn.Parameter(torch.empty(3, 3))
    init.constant_(w, 0.25)
    assert (w == 0.25).all()
    init.zeros_(w), init.ones_(w)
    assert (w == 1).all()
    assert init.calculate_gain("leaky_relu", 0.2) == torch.nn.init.calculate_gain("leaky_relu", 0.2)
    with pytest.raises(TypeError, match="generator"):
        init.normal_(w, generator=7)


def test_every_torch_name_is_here_and_the_old_names_warn_as_torchs():
    assert set(torch.nn.init.__all__) <= set(init.__all__)
    a, b = torch.empty(6, 4), torch.empty(6, 4)
    with pytest.warns(FutureWarning, match=r"nn\.init\.xavier_normal_"):
        init.xavier_normal(a, generator=rc.Generator(3))
    init.xavier_normal_(b, generator=rc.Generator(3))
    assert torch.equal(a, b)


def test_meta_tensors_are_torchs_no_op_and_draw_no_seed():
    with torch.device("meta"):
        lin = torch.nn.Linear(3, 4)
    torch.manual_seed(0)
    for name, args in [("kaiming_uniform_", ()), ("orthogonal_", ()), ("trunc_normal_", ()), ("sparse_", (0.5,)),
                       ("xavier_normal_", ())]:
        assert getattr(init, name)(lin.weight, *args) is lin.weight
    init.zeros_(lin.bias), init.constant_(lin.bias, 2.0)
    drawn = torch.randint(0, 2**62, (1,))
    torch.manual_seed(0)
    assert torch.equal(drawn, torch.randint(0, 2**62, (1,)))   # nothing was drawn for the meta tensors
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.kaiming_uniform_(lin.bias)                          # torch's own checks still apply
    for name, args in [("normal_", ()), ("sparse_", (0.5,))]:
        with pytest.raises(TypeError, match="generator"):
            getattr(init, name)(lin.weight, *args, generator=7)   # and regcore's


def test_constant_fills_what_torchs_fills():
    assert torch.equal(init.constant_(torch.empty(3, dtype=torch.int64), 2), torch.full((3,), 2))
    assert init.ones_(torch.empty(2, dtype=torch.bool)).all()
    assert not init.zeros_(torch.ones(2, dtype=torch.int32)).any()
    assert torch.equal(init.constant_(torch.empty(2), torch.tensor(0.5)), torch.full((2,), 0.5))
    assert torch.equal(init.constant_(torch.empty(2), True), torch.ones(2))


def test_kaiming_on_zero_elements_warns_and_returns_as_torchs():
    w = torch.empty(0, 3)
    for fn in (init.kaiming_uniform_, init.kaiming_normal_):
        with pytest.warns(UserWarning, match="zero-element"):
            assert fn(w, mode="not checked by torch either") is w


@pytest.mark.parametrize("sparsity,zeros", [(1.5, 4), (1.0, 4), (-0.2, 0)])
def test_sparse_outside_zero_one_follows_torch(sparsity, zeros):
    w = torch.empty(4, 3)
    init.sparse_(w, sparsity, generator=rc.Generator(1))
    ref = torch.nn.init.sparse_(torch.empty(4, 3), sparsity)
    assert ((w == 0).sum(dim=0) == zeros).all() and ((ref == 0).sum(dim=0) == zeros).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_default_generator_draws_follow_the_laws(dtype):
    """Fixed seed, torch's default generator: bounds (rounded to the dtype) hold, moments within
    about 5 sigma."""
    from scipy import stats

    torch.manual_seed(11)
    w = init.kaiming_uniform_(torch.empty(256, 64, 3, 3, dtype=dtype), a=0.2, mode="fan_out")
    bound = torch.nn.init.calculate_gain("leaky_relu", 0.2) * (3.0 / (256 * 9)) ** 0.5
    x = w.double()
    assert x.abs().max() <= torch.tensor(bound, dtype=dtype).item() and abs(x.std().item() / (bound / 3**0.5) - 1) < 0.01
    t = init.trunc_normal_(torch.empty(100_000, dtype=dtype), mean=0.5, std=2.0, a=3.0, b=7.0).double()
    law = stats.truncnorm((3.0 - 0.5) / 2, (7.0 - 0.5) / 2, loc=0.5, scale=2.0)   # both bounds above the mean
    assert t.min() >= 3.0 and t.max() <= 7.0
    assert abs(t.mean().item() - law.mean()) < 5 * law.std() / 100_000**0.5 + 4e-3   # + 16-bit rounding
    assert abs(t.std().item() / law.std() - 1) < 0.02


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("a", [0.75, -0.0, 1.0 + 2.0**-40])
def test_uniform_with_equal_bounds_fills_a_as_torchs(dtype, a):
    ours = init.uniform_(torch.empty(5, 3, dtype=dtype), a, a, generator=(g := rc.Generator(2)))
    theirs = torch.nn.init.uniform_(torch.empty(5, 3, dtype=dtype), a, a)
    assert torch.equal(ours, theirs)   # (-0.0 == 0.0: torch 2.8 fills +0.0 for a = -0.0, 2.13 fills -0.0)
    assert bool((ours.signbit() == (math.copysign(1.0, a) < 0)).all())   # regcore keeps a's sign
    init.uniform_(torch.empty(5, 3, dtype=dtype), 0.0, 1.0, generator=(h := rc.Generator(2)))
    assert g.offset == h.offset   # the draw's range is consumed whatever the bounds


def test_kaiming_slope_none_is_torchs_leaky_relu_default():
    assert init.calculate_gain("leaky_relu", None) == torch.nn.init.calculate_gain("leaky_relu", None)
    for name in ("kaiming_uniform_", "kaiming_normal_"):
        ours, ref = torch.empty(6, 4), torch.empty(6, 4)
        getattr(init, name)(ours, None, generator=rc.Generator(5))
        getattr(init, name)(ref, 0.01, generator=rc.Generator(5))
        assert torch.equal(ours, ref)
        getattr(init, name)(ours, None, nonlinearity="relu", generator=rc.Generator(5))   # ignored, as torch
        getattr(init, name)(ref, 0, nonlinearity="relu", generator=rc.Generator(5))
        assert torch.equal(ours, ref)


@pytest.mark.parametrize("name,args", [("uniform_", (-0.5, 0.5)), ("normal_", (0.1, 2.0)),
                                       ("trunc_normal_", (0.0, 1.0, -1.5, 2)), ("xavier_uniform_", (1.5,)),
                                       ("xavier_normal_", (3,)), ("orthogonal_", (2.0,)), ("sparse_", (0.5, 0.1))])
@pytest.mark.filterwarnings("ignore:To copy construct from a tensor")
def test_zero_dim_tensors_are_taken_as_their_values_as_torch_does(name, args):
    tensors = [torch.tensor(v) for v in args]
    getattr(torch.nn.init, name)(torch.empty(6, 4), *tensors)   # torch takes them
    ours, ref = torch.empty(6, 4), torch.empty(6, 4)
    getattr(init, name)(ours, *tensors, generator=rc.Generator(8))
    getattr(init, name)(ref, *args, generator=rc.Generator(8))
    assert torch.equal(ours, ref)


def test_slopes_that_are_not_numbers_raise_torchs_value_error():
    for param in (True, torch.tensor(0.2), "0.2"):
        with pytest.raises(ValueError):
            torch.nn.init.calculate_gain("leaky_relu", param)
        with pytest.raises(ValueError, match="^param: "):
            init.calculate_gain("leaky_relu", param)
        for fn in (torch.nn.init.kaiming_uniform_, init.kaiming_uniform_, init.kaiming_normal_):
            with pytest.raises(ValueError, match="a"):
                fn(torch.empty(6, 4), param)
    assert init.calculate_gain("relu", True) == torch.nn.init.calculate_gain("relu", True)   # unread there
    with pytest.raises(ValueError, match="nonlinearity"):
        init.calculate_gain("gelu")
    with pytest.raises(TypeError, match="a"):   # torch's own parser refuses a 0-d tensor that requires grad
        init.uniform_(torch.empty(3), torch.tensor(-1.0, requires_grad=True), 1.0)


@pytest.mark.parametrize("dtype,name", [(torch.float32, "float32"), (torch.bfloat16, "bfloat16"),
                                        (torch.float16, "float16"), (torch.float64, "float64")])
def test_device_fill_writes_values_torch_accepts(dtype, name):
    """A constant fill on a CUDA tensor (zeros_, constant_, a zero bound, uniform_(t, a, a)) is an
    item assignment through torch; the same assignment on a CPU tensor stands in for it here."""
    from regcore import _dtypes, init as array_init
    from regcore._arrays import ArrayRef

    t = torch.empty(4, dtype=dtype)
    np_dtype = _dtypes.require_bfloat16() if name == "bfloat16" else np.dtype(name)
    ref = ArrayRef(t, "cuda", 0, (4,), np_dtype, None, True)
    array_init._fill(ref, _dtypes.round_scalar(np_dtype, -0.75))
    assert torch.equal(t, torch.full((4,), -0.75, dtype=dtype))


@pytest.mark.parametrize("sparsity,error", [(float("nan"), ValueError), ("0.5", TypeError), (None, TypeError)])
def test_sparse_refuses_a_bad_sparsity_by_name_before_writing(sparsity, error):
    w = torch.full((4, 3), 7.0)
    with pytest.raises(error, match="^sparsity: "):   # torch's classes; torch's messages named nothing
        init.sparse_(w, sparsity, generator=rc.Generator(1))
    assert bool((w == 7.0).all())
