"""Backends. Each module exposes the same kernel functions (``random_uniform(out, seed, offset,
lo, span, hi)``, ...): ``numpy_backend`` (pure NumPy), ``cpu`` (native extension), ``cuda``
(native CUDA extension). Arguments arrive validated; backends only compute."""
