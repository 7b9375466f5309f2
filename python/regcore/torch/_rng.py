"""Where each random operator's (seed, offset) comes from.

A random operator (dropout, noise) is a pure function of its inputs, one of which is a
``seed_offset`` tensor: int64 ``[seed, offset]`` (the seed's 64-bit pattern, the first counter
block). The pair is drawn per call by one more operator, ``regcore::seed_offset(token,
generator, blocks)``:

* ``generator = 0`` (no generator given): the seed is 63 random bits drawn from torch's default
  CPU generator and the offset is 0. regcore's masks are then tied to torch's own random state
  exactly as torch's dropout is: ``torch.manual_seed(s)`` reproduces them, ``torch.get_rng_state``
  / ``set_rng_state`` (and so ``torch.utils.checkpoint``) replay them, successive calls differ;
  and since the draw is on the CPU whatever the data's device, CPU and CUDA tensors get the same
  masks for the same seed and call sequence.
* a ``regcore.Generator``: its seed, and ``blocks`` counter blocks reserved from it (exactly
  what the array API's call would reserve, so the generator ends where it would).
* a ``torch.Generator``: 63 bits drawn from it, offset 0.

The draw mutates ``TOKEN`` (a CPU scalar counting the draws): under ``torch.compile`` every draw
reads and writes the same tensor, so the draws keep their eager order and are never merged,
while the random operators themselves stay functional (identical inputs, identical output).
The draw runs on the host when the graph runs (an opaque operator, not inductor's RNG), so
compiled and eager runs give the same masks.
"""
from __future__ import annotations

import itertools
import threading
import weakref

import numpy as np
import torch

from .. import Generator
from ._library import define


def _kept_scalar(value=0):
    """A scalar this module keeps and updates in place on later calls: never an inference tensor
    (one made under torch.inference_mode refuses in-place updates outside it, so a validation
    pass under inference_mode, the first to draw, broke every later training step)."""
    with torch.inference_mode(False):   # (and on the CPU whatever torch.set_default_device says)
        return torch.full((), value, dtype=torch.int64, device="cpu")


TOKEN = _kept_scalar()
_ONE = _kept_scalar(1)   # (token.add_(_ONE): a Python 1 is wrapped in a new tensor per call, 0.6 us)
TORCH_DEFAULT = 0

_U64 = 1 << 64
_by_handle: dict = {}                                   # handle -> weakref to the generator
_handles: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()   # generator -> handle
# Some torch releases (2.8 among them) cannot weakly reference a torch.Generator: those are kept
# alive here for the life of the process (a few hundred bytes each), keyed by identity.
_kept: dict = {}                                        # id(generator) -> (generator, handle)
_next = itertools.count(1)


def _known(generator):
    try:
        return _handles.get(generator)
    except TypeError:
        kept = _kept.get(id(generator))
        return None if kept is None else kept[1]


def _remember(generator, h):
    try:
        _by_handle[h] = weakref.ref(generator, lambda _r, h=h: _by_handle.pop(h, None))
        _handles[generator] = h
    except TypeError:
        _kept[id(generator)] = (generator, h)
        _by_handle[h] = lambda g=generator: g   # called like a weak reference


def handle(generator) -> int:
    """The operator argument that stands for ``generator`` (a constant under torch.compile): also
    what ``bound`` made of one (a module's resolved generator, nn/_generator.py)."""
    if generator is None:
        return TORCH_DEFAULT
    if generator.__class__ is tuple and len(generator) == 1 and generator[0] in _by_handle:
        return generator[0]   # (what bound() made: a tuple, so a user's int is refused below)
    if not isinstance(generator, (Generator, torch.Generator)):
        raise TypeError("generator: expected a regcore.Generator, a torch.Generator or None, "
                        f"got {type(generator).__name__}")
    h = _known(generator)
    if h is None:
        h = next(_next)
        _remember(generator, h)
    return h


def bound(generator):
    """``generator`` resolved once, for a holder that passes it on every call: None stays None
    (torch's default generator), a generator becomes ``(its handle,)``, which ``handle`` and so
    every ``generator=`` of this package take while the generator lives. A tuple of an int, not
    the int: a plain int given as ``generator=`` (a seed, by mistake) must still be refused, not
    read as whichever module's generator holds that handle; and to torch.compile a tuple of
    constants is a constant, as the int is."""
    return None if generator is None else (handle(generator),)


# torch.compiler.assume_constant_result(handle), without its import of torch._dynamo, which
# cost 1.6 s of every `import regcore.torch` (dynamo is imported when torch.compile first runs
# and reads this mark then; without it a compiled model with an explicit generator failed:
# tests/test_torch_compile.py).
handle._dynamo_marked_constant = True


def torch_bits(gen) -> int:
    """63 random bits from a torch generator (one draw, as any torch random call makes)."""
    device = "cpu" if gen is None else gen.device
    return int(torch.empty((), dtype=torch.int64, device=device).random_(generator=gen))


def _i64(v: int) -> int:
    return v - _U64 if v >= (1 << 63) else v


_scratch = threading.local()   # per thread: two threads drawing at once must not read each other's draw


def _default_bits() -> int:
    """torch_bits(None) into a kept scalar: the same single draw without a new tensor per call."""
    t = getattr(_scratch, "t", None)
    if t is None:
        t = _scratch.t = _kept_scalar()
    return t.random_().item()


def _draw(token, generator, blocks):
    if generator == TORCH_DEFAULT:
        pair = (_default_bits(), 0)   # (63 bits: an int64 as they are)
    else:
        ref = _by_handle.get(generator)
        g = None if ref is None else ref()
        if g is None:
            raise RuntimeError(
                f"regcore.torch: generator handle {generator} refers to a generator that no longer exists. A "
                "program traced or exported (torch.compile, torch.export) from a module given generator= holds "
                "that generator's handle, valid only in the process that traced it while the generator lives; "
                "for a program saved and loaded elsewhere, export the modules with generator=None (draws tied "
                "to torch's default generator: torch.manual_seed reproduces them), or run it in eval mode")
        if isinstance(g, Generator):
            pair = (_i64(g.seed), _i64(g.reserve(blocks)))
        else:
            pair = (torch_bits(g), 0)
    token.add_(_ONE)
    # (made by NumPy: torch.tensor's argument parsing costs several times as much)
    return torch.from_numpy(np.array(pair, np.int64))


seed_offset_op = define("seed_offset(Tensor(a!) token, int generator, SymInt blocks) -> Tensor", _draw,
                        lambda token, generator, blocks: token.new_empty((2,)))


def draw(generator, blocks: int):
    """The (seed, offset) tensor of one random call that reads ``blocks`` counter blocks."""
    token = TOKEN
    if not _compiling():   # (is_compiling first: dynamo cannot trace the others)
        if _dispatch_modes():
            token = _token_under_fake_mode(token)
        if _functorch_active():
            return _draw_under_vmap(token, handle(generator), blocks)
    return seed_offset_op(token, handle(generator), blocks)


_dispatch_modes = torch._C._len_torch_dispatch_stack
_compiling = torch.compiler.is_compiling
_functorch_active = torch._C._are_functorch_transforms_active


def _draw_under_vmap(token, h, blocks):
    """vmap's ``randomness`` argument, which torch's own random operators obey. The random
    operators run per sample under vmap (torch's batching fallback) and read their (seed,
    offset) from an input, so one unbatched draw gave every sample the same mask whatever vmap
    was told. ``"different"``: one draw per sample (in sample order, as a loop over the samples
    would draw), handed to the operator batched at that vmap level, so sample i gets draw i;
    ``"same"``: one draw for all. ``"error"`` (vmap's default, and that of jacfwd and hessian,
    which run the function under vmap) draws as ``"same"`` where torch's own random operators
    raise: the forward-mode Jacobian and Hessian of a layer with fixed masks are well defined,
    and regcore's layers give them (tests/test_torch_func.py)."""
    from torch._C import _functorch as ft
    from torch._functorch.pyfunctorch import temporarily_clear_interpreter_stack

    levels = []   # (level, batch size) of the "different" vmaps, outermost first
    for ci in ft.get_interpreter_stack() or ():
        if ci.key() != ft.TransformType.Vmap:
            continue
        vi = ft.CVmapInterpreterPtr(ci)
        if vi.randomness() == ft.RandomnessType.Different:
            levels.append((ci.level(), vi.batchSize()))
    if not levels:
        return seed_offset_op(token, h, blocks)
    sizes = [b for _, b in levels]
    n = 1
    for b in sizes:
        n *= b
    # drawn below every transform: under grad or jvp the pairs would come back wrapped at their
    # level, inside the batch dimensions added here (an order torch's dispatcher asserts against)
    with temporarily_clear_interpreter_stack():
        pairs = torch.stack([seed_offset_op(token, h, blocks) for _ in range(n)]).view(*sizes, 2)
    for level, _ in levels:
        pairs = ft._add_batch_dim(pairs, 0, level)
    return pairs


def _token_under_fake_mode(token):
    """The token as the active FakeTensorMode's tensor, when that mode refuses real inputs: a
    model run under FakeTensorMode directly (shape and memory estimates) gave its random
    layers the real token and the mode raised. The fake draw leaves the real token untouched,
    as a fake run leaves torch's generators. (torch.export's fake mode takes the real token:
    its programs update it.)"""
    from torch._guards import detect_fake_mode

    mode = detect_fake_mode()
    if mode is None or mode.allow_non_fake_inputs:
        return token
    return mode.from_tensor(token)


NO_DRAW = torch.zeros((2,), dtype=torch.int64, device="cpu")   # for calls that read no random bits (p = 0 or 1)


def no_draw():
    return NO_DRAW


def decode(seed_offset) -> tuple:
    """(seed, offset) as the array API's Generator takes them (unsigned)."""
    s, o = seed_offset.tolist()
    return s % _U64, o % _U64


def positioned(seed_offset) -> Generator:
    """A regcore Generator at the call's (seed, offset): the array API reserves from it exactly
    the blocks the draw accounted for."""
    seed, offset = decode(seed_offset)
    return Generator.from_state({"seed": seed, "offset": offset})


def blocks_for(numel: int, itemsize: int = 4) -> int:
    """Counter blocks a call over numel elements reads (docs/random.md: E = 4 for masks and
    float32 draws, 2 for float64 draws)."""
    e = 4 if itemsize <= 4 else 2
    return (numel + e - 1) // e


def check_not_capturing(t) -> None:
    """Refuse a random call during CUDA-graph capture: the (seed, offset) is drawn on the host
    when the call runs, so a captured graph would replay one mask forever."""
    if t.is_cuda and torch.cuda.is_current_stream_capturing():
        raise RuntimeError(
            "regcore.torch: random operators (dropout, noise) cannot run inside CUDA-graph capture: their "
            "(seed, offset) is drawn on the host per call, so every replay would reuse the captured mask. "
            "Run the module in eval mode inside the graph, or leave it outside the captured region "
            "(torch.compile's mode='reduce-overhead' leaves such graphs uncaptured by itself).")
