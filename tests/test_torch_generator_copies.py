"""A model whose layers hold a regcore.Generator can be copied and saved as torch's can:
copy.deepcopy (torch.optim.swa_utils.AveragedModel makes one), torch.save of the whole model.
Before, the generator's lock refused to pickle and every one of these raised."""
from __future__ import annotations

from _torch_helpers import rct, torch

import regcore as rc


def test_a_model_holding_a_regcore_generator_copies_pickles_and_averages():
    # copy.deepcopy (AveragedModel makes one), torch.save of the whole model; each copy draws from
    # its own generator, continuing from the original's state
    import copy
    import io
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), rct.nn.Dropout(0.5, generator=rc.Generator(3)))
    x = torch.ones(6, 4)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    copies = [copy.deepcopy(model), torch.load(buffer, weights_only=False)]
    for c in copies:
        assert c[1].generator is not model[1].generator and c[1].generator.state == model[1].generator.state
    outs = [m(x) for m in (model, *copies)]
    assert all(torch.equal(outs[0], o) for o in outs[1:])
    averaged = torch.optim.swa_utils.AveragedModel(model)
    assert averaged.module[1].generator is not model[1].generator


def test_a_module_resolves_its_generator_when_it_is_assigned():
    # The forwards pass the generator's operator handle, worked out on assignment (what torch
    # 2.8's torch.compile needs): a wrong type is refused there, leaving the module as it was,
    # and a module pickled when the generator sat in its __dict__ as "generator" still loads.
    import pytest
    with pytest.raises(TypeError, match="^generator: expected a regcore.Generator, a torch.Generator or None"):
        rct.nn.Dropout(0.5, generator="seed")
    d = rct.nn.Dropout2d(0.5, generator=rc.Generator(3))
    with pytest.raises(TypeError):
        d.generator = 7
    assert d.generator.seed == 3
    old = d.__getstate__()
    old["generator"] = old.pop("_generator")
    loaded = rct.nn.Dropout2d.__new__(rct.nn.Dropout2d)
    loaded.__setstate__(old)
    x = torch.ones(2, 8, 3, 3)
    fresh = rct.nn.Dropout2d(0.5, generator=rc.Generator(3))
    assert loaded.generator is d.generator and torch.equal(loaded(x), fresh(x))
