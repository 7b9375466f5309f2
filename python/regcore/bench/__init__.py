"""regcore's benchmark: every kernel against this machine's copy bandwidth and against the
libraries people would otherwise use, measured in one run.

``python -m regcore.bench`` (or ``regcore-bench``) is the command; see docs/benchmarks.md.

What is measured comes from two places:

* the native registry compiled into the extension (``csrc/bench/cases_<family>.cpp``): each case
  knows the minimum bytes its kernel must move and is timed inside C++, so the figures carry no
  Python overhead;
* one ``peers_<family>.py`` module per family here: the same kernel through regcore's public API
  (used for the pure-NumPy backend row, and for kernels that have no native case yet) and the
  peers (NumPy reference implementations, PyTorch when it is installed).
"""
from ._spec import Kernel, Peer, PeerUnavailable  # noqa: F401
from ._runner import Options, run  # noqa: F401
