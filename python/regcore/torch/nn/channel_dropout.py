"""Channel (spatial) dropout and alpha dropout modules: Dropout1d, Dropout2d, Dropout3d,
AlphaDropout, FeatureAlphaDropout, subclasses of torch's with the same constructor arguments,
state and eval behaviour (the input itself); regcore's extras are keyword-only: ``mask`` ("bits":
1 bit per decision kept for the backward; "none": redrawn) and ``generator`` (None: tied to
torch's default generator; a regcore.Generator or a torch.Generator)."""
from __future__ import annotations

from torch import Tensor, nn

from .. import _checks
from . import _channel_functional as F
from ._capture import NotScriptable, Proxy, traced_call
from ._generator import HoldsGenerator

__all__ = ["Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"]


class _Extras(HoldsGenerator, NotScriptable):
    def _init_extras(self, mask, generator):
        self.mask = _checks.choice(mask, "mask", F.MASKS)
        self.generator = generator

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mask={self.mask!r}"


class Dropout1d(_Extras, nn.Dropout1d):
    """torch.nn.Dropout1d on regcore's kernel: whole channels of (N, C, L) or (C, L)."""

    def __init__(self, p=0.5, inplace=False, *, mask="bits", generator=None):
        super().__init__(p, inplace)
        self._init_extras(mask, generator)

    def forward(self, input):
        if input.__class__ is not Tensor and isinstance(input, Proxy):   # torch.fx tracing (_capture.py)
            return traced_call(self, input)
        return F.dropout1d(input, self.p, self.training, self.inplace, mask=self.mask, generator=self._generator_handle)


class Dropout2d(_Extras, nn.Dropout2d):
    """torch.nn.Dropout2d on regcore's kernel: whole channels of (N, C, H, W), either memory format."""

    def __init__(self, p=0.5, inplace=False, *, mask="bits", generator=None):
        super().__init__(p, inplace)
        self._init_extras(mask, generator)

    def forward(self, input):
        if input.__class__ is not Tensor and isinstance(input, Proxy):   # torch.fx tracing (_capture.py)
            return traced_call(self, input)
        return F.dropout2d(input, self.p, self.training, self.inplace, mask=self.mask, generator=self._generator_handle)


class Dropout3d(_Extras, nn.Dropout3d):
    """torch.nn.Dropout3d on regcore's kernel: whole channels of (N, C, D, H, W) or (C, D, H, W)."""

    def __init__(self, p=0.5, inplace=False, *, mask="bits", generator=None):
        super().__init__(p, inplace)
        self._init_extras(mask, generator)

    def forward(self, input):
        if input.__class__ is not Tensor and isinstance(input, Proxy):   # torch.fx tracing (_capture.py)
            return traced_call(self, input)
        return F.dropout3d(input, self.p, self.training, self.inplace, mask=self.mask, generator=self._generator_handle)


class AlphaDropout(_Extras, nn.AlphaDropout):
    """torch.nn.AlphaDropout on regcore's kernel (for SELU networks)."""

    def __init__(self, p=0.5, inplace=False, *, mask="bits", generator=None):
        super().__init__(p, inplace)
        self._init_extras(mask, generator)

    def forward(self, input):
        if input.__class__ is not Tensor and isinstance(input, Proxy):   # torch.fx tracing (_capture.py)
            return traced_call(self, input)
        return F.alpha_dropout(input, self.p, self.training, self.inplace, mask=self.mask,
                               generator=self._generator_handle)


class FeatureAlphaDropout(_Extras, nn.FeatureAlphaDropout):
    """torch.nn.FeatureAlphaDropout on regcore's kernel: one decision per (sample, channel)."""

    def __init__(self, p=0.5, inplace=False, *, mask="bits", generator=None):
        super().__init__(p, inplace)
        self._init_extras(mask, generator)

    def forward(self, input):
        if input.__class__ is not Tensor and isinstance(input, Proxy):   # torch.fx tracing (_capture.py)
            return traced_call(self, input)
        return F.feature_alpha_dropout(input, self.p, self.training, self.inplace, mask=self.mask,
                                       generator=self._generator_handle)
