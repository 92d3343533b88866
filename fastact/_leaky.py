"""leaky_relu and its derivative and backward: the two- and three-input ufuncs of
_ufuncs.pyx with `alpha` defaulting to 0.01. The ufunc itself is each wrapper's `ufunc`
attribute (for reduce-free ufunc machinery such as `ufunc.at` or `__array_ufunc__`)."""

from __future__ import annotations

from typing import Any, Protocol, cast

import numpy as np
from numpy.typing import ArrayLike

from fastact import _ufuncs

__all__ = ["leaky_relu", "leaky_relu_derivative", "leaky_relu_backward"]


# The default alpha as a read-only 0-d float64 array. NumPy resolves a ufunc call with a
# Python float operand through its scalar-promotion path, about 0.25 us, and into the
# all-float64 loop, so a float32 x would reach it through NumPy's casting buffers; a
# float64 alpha array matches the loops exactly ('dd->d', 'fd->d'). So for plain ndarray
# inputs (and out), a float alpha is passed as the same value in a 0-d array. Any other
# call gets alpha as given: subclasses, __array_ufunc__ and __array_wrap__ objects may
# dispatch or wrap by the operands' types. The default is recognised by identity and the
# names are bound here, a good part of a small call's cost: leaky_relu on 10 entries
# takes 1.38-1.39x np.tanh's time (tools/speed_targets.py --groups overhead), where the
# same checks through module attributes took 1.53-1.55x and a float alpha about 2.3x.
_ALPHA = np.array(0.01)
_ALPHA.flags.writeable = False
_DEFAULT = 0.01
_NDARRAY = np.ndarray
_ARRAY = np.array


class _LeakyUnary(Protocol):
    # what type checkers see of the two wrappers _unary makes
    ufunc: np.ufunc

    def __call__(self, x: ArrayLike, alpha: ArrayLike = ..., out: np.ndarray | None = None,
                 **kwargs: Any) -> Any: ...


def _unary(ufunc: np.ufunc, name: str) -> _LeakyUnary:
    # leaky_relu and leaky_relu_derivative: one input and alpha.
    def wrapper(x: ArrayLike, alpha: ArrayLike = _DEFAULT, out: np.ndarray | None = None,
                **kwargs: Any) -> Any:
        if type(x) is _NDARRAY and (out is None or type(out) is _NDARRAY):
            if alpha is _DEFAULT:
                alpha = _ALPHA
            elif type(alpha) is float:
                alpha = _ARRAY(alpha)
            if out is None and not kwargs:
                return ufunc(x, alpha)
        return ufunc(x, alpha, out=out, **kwargs)
    wrapper.__name__ = wrapper.__qualname__ = name
    return cast(_LeakyUnary, wrapper)


leaky_relu = _unary(_ufuncs.leaky_relu, "leaky_relu")
leaky_relu_derivative = _unary(_ufuncs.leaky_relu_derivative, "leaky_relu_derivative")
_LEAKY_B = _ufuncs.leaky_relu_backward


def leaky_relu_backward(grad_output: ArrayLike, output: ArrayLike,
                        alpha: ArrayLike = _DEFAULT, out: np.ndarray | None = None,
                        **kwargs: Any) -> Any:
    if (type(grad_output) is _NDARRAY and type(output) is _NDARRAY
            and (out is None or type(out) is _NDARRAY)):
        if alpha is _DEFAULT:
            alpha = _ALPHA
        elif type(alpha) is float:
            alpha = _ARRAY(alpha)
        if out is None and not kwargs:
            return _LEAKY_B(grad_output, output, alpha)
    return _LEAKY_B(grad_output, output, alpha, out=out, **kwargs)


_f: Any
for _f, _u in [
    (leaky_relu, _ufuncs.leaky_relu),
    (leaky_relu_derivative, _ufuncs.leaky_relu_derivative),
    (leaky_relu_backward, _ufuncs.leaky_relu_backward),
]:
    # The ufunc's docstring starts with its generated signature; keep the prose after it.
    _f.__doc__ = _u.__doc__.split("\n\n", 1)[1].replace(
        "alpha : array_like\n", "alpha : array_like, optional\n"
    ).replace("Slope for x <= 0.", "Slope for x <= 0 (default 0.01).").replace(
        " (x1: ufunc inputs are\n    positional)", "").replace(" (x2)", "")
    _f.ufunc = _u
del _f, _u
