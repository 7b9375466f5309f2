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
