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


class _ChannelDropout(HoldsGenerator, NotScriptable):
    """The five modules' shared constructor and forward; each names its functional form in
    ``_functional`` (a class attribute: torch.compile reads it as a constant)."""

    _functional = None

    def __init__(self, p=0.5, inplace=False, *, mask="bits", generator=None):
        super().__init__(p, inplace)   # (torch's class, after the mixins in the MRO)
        self.mask = _checks.choice(mask, "mask", F.MASKS)
        self.generator = generator

    def forward(self, input):
        if input.__class__ is not Tensor and isinstance(input, Proxy):   # torch.fx tracing (_capture.py)
            return traced_call(self, input)
        return self._functional(input, self.p, self.training, self.inplace, mask=self.mask,
                                generator=self._generator_handle)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mask={self.mask!r}"


class Dropout1d(_ChannelDropout, nn.Dropout1d):
    """torch.nn.Dropout1d on regcore's kernel: whole channels of (N, C, L) or (C, L)."""

    _functional = staticmethod(F.dropout1d)


class Dropout2d(_ChannelDropout, nn.Dropout2d):
    """torch.nn.Dropout2d on regcore's kernel: whole channels of (N, C, H, W), either memory format."""

    _functional = staticmethod(F.dropout2d)


class Dropout3d(_ChannelDropout, nn.Dropout3d):
    """torch.nn.Dropout3d on regcore's kernel: whole channels of (N, C, D, H, W) or (C, D, H, W)."""

    _functional = staticmethod(F.dropout3d)


class AlphaDropout(_ChannelDropout, nn.AlphaDropout):
    """torch.nn.AlphaDropout on regcore's kernel (for SELU networks)."""

    _functional = staticmethod(F.alpha_dropout)


class FeatureAlphaDropout(_ChannelDropout, nn.FeatureAlphaDropout):
    """torch.nn.FeatureAlphaDropout on regcore's kernel: one decision per (sample, channel)."""

    _functional = staticmethod(F.feature_alpha_dropout)
