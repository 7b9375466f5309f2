"""regcore.torch.nn.init: torch.nn.init's names and signatures on regcore's samplers, in place
under no_grad on parameters; generator semantics (regcore.Generator: the array API's values;
None: tied to torch.manual_seed; torch.Generator: drawn from it); torch's sparse_ law."""
from __future__ import annotations

import inspect

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
