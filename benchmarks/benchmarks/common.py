"""Inputs and implementations shared by the fastact asv benchmarks."""

import numpy as np

import fastact
from fastact import _impls

# np.vectorize baselines cost ~100 ns per element: past this they only slow the suite.
PER_ELEMENT_MAX = 100_000


def implementation(name, impl):
    """The callable for `impl` of public function `name`; NotImplementedError (asv: skip)
    where that implementation has no such function or is not installed."""
    if impl == "fastact":
        return getattr(fastact, name)
    if impl == "numpy_naive":
        return _impls.NAIVE[name][0]
    if impl == "numpy_best":
        return _impls.BEST[name][0]
    ops = _impls.peers().get(impl, {})
    if not ops:
        raise NotImplementedError(f"{impl} is not installed")
    if name not in ops:
        raise NotImplementedError(f"{impl} has no {name}")
    return ops[name]


def inputs(name, shape, seed=0):
    """Positional inputs of `name` with the given shape (backward: gradient and output)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-10, 10, size=shape)
    if name.endswith("_backward"):
        forward = getattr(fastact, name.removesuffix("_backward"))
        return (rng.normal(size=shape), forward(x))
    return (x,)


def output_shape(name, shape):
    return shape + (shape[-1],) if name == "softmax_jacobian" else shape
