"""The softmax family: validate, bring the normalised axes last, allocate, delegate.

The common call (C-contiguous native float64 arrays of one shape over the last axis,
`out` of that kind, apart from the inputs or exactly one of them; or a float32 x or
gradient apart from `out`) is checked and run in C by _rows.fast_rows, fast_backward and
fast_jacobian: 0.3-0.4 us a call for 10 entries, where the same call with these checks
in Python took 1.8-2.8 us. Otherwise the slice kernels (kernels.pyx) work on contiguous
rows; this layer maps any `axis` (int, tuple of ints, None) onto a (rows, n)
C-contiguous float64 array, runs the row driver from _rows.pyx without the GIL, and
writes into `out` (directly when it already has that layout, else through one copy). A
softmax or log_softmax input, or a backward product's gradient, that needs a copy anyway
(another dtype, byte order or layout) is copied into the array the rows are written to
when fastact allocates it (not `out`: a cast may raise), and the kernels run there in
place. softmax and log_softmax over one non-last axis of a C-contiguous array use the
column kernels instead, with no transposed copy. Nothing is written to `out` before every
check passed.
"""

from __future__ import annotations

import math
import operator

from typing import Any, Union

import numpy as np
from numpy.exceptions import AxisError
from numpy.lib.array_utils import normalize_axis_tuple
from numpy.typing import ArrayLike, NDArray

from fastact import _rows

Axis = Union[int, tuple[int, ...], None]

__all__ = [
    "softmax",
    "log_softmax",
    "softmax_jacobian",
    "softmax_backward",
    "log_softmax_backward",
]


def _as_real(name, value, argname):
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name}: unsupported dtype {arr.dtype} for {argname}; "
            "expected real numbers (bool, integer or floating)"
        )
    return arr


def _axes(name, axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    parts = axis if isinstance(axis, (tuple, list)) else [axis]
    for a in parts:
        if isinstance(a, (bool, np.bool_)) or not hasattr(a, "__index__"):
            raise TypeError(f"{name}: axis must be an int, a tuple of ints or None, "
                            f"not {type(a).__name__}")
    if ndim == 0:
        # A 0-d input is one slice: axis 0 or -1 as NumPy's reductions (and SciPy's
        # softmax) take them there.
        for a in map(operator.index, parts):
            if a not in (0, -1):
                raise AxisError(a, 0, name)
        normalize_axis_tuple(axis, 1, name)        # repeated axes
        return ()
    return tuple(sorted(normalize_axis_tuple(axis, ndim, name)))


def _check_out(name, out, shape):
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name}: out must be a numpy.ndarray, not {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"{name}: out has shape {out.shape}, expected {shape}")
    if not np.can_cast(np.float64, out.dtype, casting="same_kind"):
        raise TypeError(f"{name}: cannot write float64 results to out of dtype {out.dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name}: out is read-only")


def _rows_of(arr, perm, batch, n):
    """`arr` with axes in `perm` order as a C-contiguous (batch, n) float64 array."""
    return np.ascontiguousarray(arr.transpose(perm), dtype=np.float64).reshape(batch, n)


def _same_start(a, b):
    return a.__array_interface__["data"][0] == b.__array_interface__["data"][0]


def _columns(driver, x, axes, out):
    """Softmax over one non-last axis of a C-contiguous float64 array, in place of the
    transposed copy: the column kernels read the array as it lies (3x faster for axis=0
    of a 1000 x 1000 array). A C-contiguous input of another dtype is converted into the
    result first and normalised there. None when this path does not apply."""
    shape = x.shape
    if len(axes) != 1 or axes[0] == len(shape) - 1 or x.size == 0:
        return None
    if not x.flags.c_contiguous:
        # converted as astype would (order K), so the result is the float64 call's on
        # x.astype(np.float64) (log_softmax's column and row kernels differ in last bits)
        x = np.asarray(x, dtype=np.float64)
        if not x.flags.c_contiguous:
            return None
    a = axes[0]
    target = out
    if out is None:
        target = _rows.empty(shape)
    elif out.dtype != np.float64 or not out.flags.c_contiguous:
        target = np.empty(shape)    # copied into out: a temporary, kept from the cache
    if x.dtype != np.float64:
        if target is out:           # the cast may raise: out stays untouched
            x = np.asarray(x, dtype=np.float64)
        else:                       # no temporary: into the new target, run in place
            np.copyto(target, x, casting="unsafe")
            x = target
    elif target is out and np.may_share_memory(x, out) and not _same_start(x, out):
        x = x.copy()
    driver(x, target, math.prod(shape[:a]), shape[a], math.prod(shape[a + 1:]))
    if out is None:
        return target
    if target is not out:
        np.copyto(out, target, casting="same_kind")
    return out


def _run(name, driver, inputs, axis, out, jacobian=False, columns=None):
    arrays = [_as_real(name, v, arg) for arg, v in inputs]
    if len(arrays) > 1:
        arrays = list(np.broadcast_arrays(*arrays))
    shape = arrays[0].shape
    axes = _axes(name, axis, len(shape))
    keep = [a for a in range(len(shape)) if a not in axes]
    perm = keep + list(axes)
    batch_shape = tuple(shape[a] for a in keep)
    batch = math.prod(batch_shape)
    n = math.prod(shape[a] for a in axes)
    res_shape = batch_shape + (n, n) if jacobian else shape
    if out is not None:
        _check_out(name, out, res_shape)
    if columns is not None:
        result = _columns(columns, arrays[0], axes, out)
        if result is not None:
            return result

    identity = perm == sorted(perm)
    direct = (
        out is not None
        and out.dtype == np.float64
        and out.flags.c_contiguous
        and (identity or jacobian)
    )
    if direct:
        target = out
    else:
        t_shape = batch_shape + (n, n) if jacobian else tuple(shape[a] for a in perm)
        # a result, or a temporary copied into out (kept from the output cache)
        target = _rows.empty(t_shape) if out is None else np.empty(t_shape)
    src = arrays[0].transpose(perm)
    if not (jacobian or direct or (src.dtype == np.float64 and src.flags.c_contiguous)):
        # The first input (x, or the backward products' gradient) where it needs a copy
        # anyway (another dtype or layout): the copy is made into the new target (which
        # shares memory with no input) and the kernels run there in place, one array
        # fewer to allocate and write (1000 x 1000 on one thread against a temporary:
        # softmax of a float64 F-order array over the last axis 1.08x, of float32 1.08-
        # 1.11x before the C fast path took it; on two threads the temporary took
        # 0.72-2.3 ms as glibc kept or returned its pages, this 0.62-0.76). Not into
        # out itself: NumPy's cast may raise (errstate, a longdouble overflow) and out
        # must then stay untouched; the C fast path widens float32 into out, which
        # cannot raise.
        np.copyto(target, src, casting="unsafe")
        rows = [target] + [_rows_of(a, perm, batch, n) for a in arrays[1:]]
    else:
        rows = [_rows_of(a, perm, batch, n) for a in arrays]
        if direct:
            # Writing straight into out: an input that overlaps it other than exactly
            # (same buffer, same layout) is copied first; a Jacobian's (n, n) blocks
            # never lie as its input rows do, so any overlap is copied there.
            rows = [
                r.copy() if np.may_share_memory(r, out)
                and (jacobian or not _same_start(r, out)) else r
                for r in rows
            ]
    driver(*rows, target, batch, n)

    if jacobian or identity:
        result = target
    else:
        result = target.transpose(np.argsort(perm))
    if out is None:
        return result[()] if result.ndim == 0 else result
    if result is not out:
        np.copyto(out, result, casting="same_kind")
    return out


def softmax(x: ArrayLike, axis: Axis = -1, *, out: NDArray[Any] | None = None) -> Any:
    """Softmax over `axis`: ``s_i = exp(x_i - m) / sum_j exp(x_j - m)``, m the slice max.

    Parameters
    ----------
    x : array_like
        Real input (bool, integer and float inputs are computed in float64).
    axis : int, tuple of ints or None, optional
        Axis or axes normalised together; None means all. Default -1. A 0-d `x` is
        one slice (axis 0, -1 or None).
    out : ndarray, optional
        Array of the input's shape to write the result to; may be `x` itself.

    Returns
    -------
    ndarray
        float64 values in [0, 1] summing to 1 over each slice.

    Notes
    -----
    Shifting by the max makes any finite input safe (``softmax([1000, 1001, 1002])`` is
    finite). A slice holding +inf gives each +inf entry ``1/k`` (k of them) and the rest
    0; a slice with a NaN, or all -inf, gives NaN; an empty slice gives an empty result.
    Each element is within 4 ulp of the exact value, long slices included: each exp is
    reduced from x_i itself (no rounded ``x_i - m``; beyond ``|m| = 2000`` the rounding
    error of ``x_i - m`` is carried instead) and the sum is compensated.
    """
    result = _rows.fast_rows(0, x, axis, out)
    if result is not None:
        return result
    return _run("softmax", _rows.softmax, [("x", x)], axis, out, columns=_rows.softmax_cols)


def log_softmax(x: ArrayLike, axis: Axis = -1, *, out: NDArray[Any] | None = None) -> Any:
    """Log-softmax over `axis`: ``x_i - m - log(sum_j exp(x_j - m))``, m the slice max.

    Computed directly, not as ``log(softmax(x))``: the max entry uses ``log1p`` of the
    sum of the other terms, so ``log_softmax([1000, 1]) == [0, -999]`` and every element is
    within 4 ulp of the exact value. Special slices follow :func:`softmax`: +inf entries get
    ``-log(k)`` and the others -inf; NaN or all -inf give NaN.

    Parameters and return value are those of :func:`softmax`.
    """
    result = _rows.fast_rows(1, x, axis, out)
    if result is not None:
        return result
    return _run("log_softmax", _rows.log_softmax, [("x", x)], axis, out,
                columns=_rows.log_softmax_cols)


def softmax_jacobian(x: ArrayLike, axis: Axis = -1, *,
                     out: NDArray[Any] | None = None) -> Any:
    """Jacobian of :func:`softmax`: ``J[..., i, j] = s_i (delta_ij - s_j)``.

    Returns an array of shape ``batch_shape + (n, n)``, where `batch_shape` is the
    shape of `x` without the `axis` axes and n is the number of elements in one slice
    (their product, in C order, when `axis` is a tuple or None). ``1 - s_i`` on the
    diagonal of the dominant entry is computed from the other terms, without cancellation.

    Parameters
    ----------
    x : array_like
        Real input, as for :func:`softmax`.
    axis : int, tuple of ints or None, optional
        The slice's axis or axes, as for :func:`softmax`. Default -1.
    out : ndarray, optional
        Array of shape ``batch_shape + (n, n)`` to write the result to.

    Returns
    -------
    ndarray
        float64, shape ``batch_shape + (n, n)``.
    """
    result = _rows.fast_jacobian(x, axis, out)
    if result is not None:
        return result
    return _run("softmax_jacobian", _rows.softmax_jacobian, [("x", x)], axis, out,
                jacobian=True)


def softmax_backward(grad_output: ArrayLike, output: ArrayLike, axis: Axis = -1, *,
                     out: NDArray[Any] | None = None) -> Any:
    """Vector-Jacobian product of :func:`softmax` from its saved output s.

    ``out_i = s_i (g_i - sum_j g_j s_j)``, i.e. ``J^T g``; the dot product is
    compensated. Where s_j = 0 the Jacobian's row and column j are 0: the result there
    is 0 and g_j takes no part, even if inf or NaN.

    Parameters
    ----------
    grad_output : array_like
        Gradient of the loss with respect to the softmax output, g.
    output : array_like
        The saved ``softmax(x, axis)``, s. Broadcasts against `grad_output`.
    axis : int, tuple of ints or None, optional
        The axis or axes the softmax was taken over. Default -1.
    out : ndarray, optional
        Array of the broadcast shape to write the result to; may be either input.

    Returns
    -------
    ndarray
        float64, the gradient with respect to x, of the broadcast shape.
    """
    result = _rows.fast_backward(0, grad_output, output, axis, out)
    if result is not None:
        return result
    return _run("softmax_backward", _rows.softmax_backward,
                [("grad_output", grad_output), ("output", output)], axis, out)


def log_softmax_backward(grad_output: ArrayLike, output: ArrayLike, axis: Axis = -1, *,
                         out: NDArray[Any] | None = None) -> Any:
    """Vector-Jacobian product of :func:`log_softmax` from its saved output o.

    ``out_i = g_i - exp(o_i) sum_j g_j``; the sum is compensated.

    Parameters and return value are those of :func:`softmax_backward`, with `output` the
    saved ``log_softmax(x, axis)`` and `grad_output` the gradient with respect to it.
    """
    result = _rows.fast_backward(1, grad_output, output, axis, out)
    if result is not None:
        return result
    return _run("log_softmax_backward", _rows.log_softmax_backward,
                [("grad_output", grad_output), ("output", output)], axis, out)
