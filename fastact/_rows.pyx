# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Batch drivers for the softmax family: hand C-contiguous float64 arrays to the row (and
column) kernels of kernels.pyx, which split large batches across threads, without the GIL.

Design: the common call (plain C-contiguous float64 over the last axis; softmax,
log_softmax and the backward products also take a float32 x or gradient) comes straight
from the public functions to fast_rows, fast_backward and fast_jacobian, which check it
with NumPy's C API and return None for anything else. For the rest the Python layer
(_softmax.py) moves the normalised axes last, makes the rows contiguous, allocates `out`
and checks shapes; the drivers below check the layout cheaply (a wrong one would be
memory corruption, not a wrong answer) and delegate. They take ndarrays, not typed
memoryviews, whose set-up costs microseconds on small arrays. New outputs of 1 MiB or
more come from the output cache (_output_cache.pxi: `empty`, and the fast paths).
"""

import os

cimport numpy as cnp
import numpy as np

from fastact cimport kernels
from fastact.kernels import _import_warnings    # raised by fastact/__init__.py

cnp.import_array()

include "_output_cache.pxi"


cdef inline bint _plain(object v, cnp.ndarray like, int typenum=cnp.NPY_DOUBLE):
    # v is an exact ndarray, C-contiguous float64 (or typenum) in native byte order (a
    # swapped one has the same type number), of like's shape (None: any shape).
    cdef cnp.ndarray a
    cdef int d
    if not cnp.PyArray_CheckExact(v):
        return False
    a = <cnp.ndarray>v
    if (cnp.PyArray_TYPE(a) != typenum or not cnp.PyArray_IS_C_CONTIGUOUS(a)
            or not cnp.PyArray_ISNOTSWAPPED(a)):
        return False
    if like is None:
        return True
    if cnp.PyArray_NDIM(a) != cnp.PyArray_NDIM(like):
        return False
    for d in range(cnp.PyArray_NDIM(a)):
        if cnp.PyArray_DIM(a, d) != cnp.PyArray_DIM(like, d):
            return False
    return True


cdef inline bint _apart(cnp.ndarray v, cnp.ndarray out):
    # Two C-contiguous arrays share no byte.
    cdef char* a = <char*>cnp.PyArray_DATA(v)
    cdef char* b = <char*>cnp.PyArray_DATA(out)
    return a + cnp.PyArray_NBYTES(v) <= b or b + cnp.PyArray_NBYTES(out) <= a


cdef inline bint _apart_or_same(cnp.ndarray v, cnp.ndarray out):
    # Two C-contiguous arrays of one shape: disjoint, or the same memory (in place); a
    # partial overlap takes the general path, which copies.
    return cnp.PyArray_DATA(v) == cnp.PyArray_DATA(out) or _apart(v, out)


cdef bint _last_axis(cnp.ndarray x, object axis, Py_ssize_t* rows,
                     Py_ssize_t* n) except -1:
    # The fast path's axis: a plain int naming the last axis of a non-empty x of one or
    # more dimensions; *rows and *n set. The conditions the Python layer had, a few
    # microseconds cheaper.
    cdef int ndim = cnp.PyArray_NDIM(x)
    if ndim == 0 or cnp.PyArray_SIZE(x) == 0 or type(axis) is not int:
        return False
    if not (axis == -1 or axis == ndim - 1):
        return False
    n[0] = cnp.PyArray_DIM(x, ndim - 1)
    rows[0] = cnp.PyArray_SIZE(x) // n[0]
    return True


cdef object _fast_target(cnp.ndarray x, object y, object axis, object out,
                         Py_ssize_t* rows, Py_ssize_t* n):
    # The fast path's checks on axis and out (against x, and y unless None: both already
    # plain, of one shape): the array to write to, with *rows and *n, or None where the
    # general path (_softmax._run) must take the call.
    if not _last_axis(x, axis, rows, n):
        return None
    if out is None:
        return new_output(cnp.PyArray_NDIM(x), cnp.PyArray_DIMS(x))
    if (not _plain(out, x) or not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out)
            or not _apart_or_same(x, <cnp.ndarray>out)
            or (y is not None and not _apart_or_same(<cnp.ndarray>y, <cnp.ndarray>out))):
        return None
    return out


cdef inline bint _apart_from_out(cnp.ndarray v, object out):
    # v shares no byte with out, where out is an array (None or any other object:
    # _fast_target checks it), so that a float32 input widened into the target is not
    # written over an input still to be read.
    return (out is None or not cnp.PyArray_CheckExact(out)
            or _apart(v, <cnp.ndarray>out))


cdef inline void _widen(cnp.ndarray v, cnp.ndarray out, Py_ssize_t size) noexcept:
    # float32 v into float64 out, of one shape: exact, and never raising, so a given out
    # is never left half-written (NumPy's cast can raise on a signalling NaN under
    # np.errstate(invalid="raise"); a NaN passes quietly, as in the ufuncs' float32
    # loop). Built for baseline x86-64, about 3 % slower on 1e6 entries than NumPy's.
    cdef Py_ssize_t i
    cdef const float* pv = <const float*>cnp.PyArray_DATA(v)
    cdef double* po = <double*>cnp.PyArray_DATA(out)
    for i in range(size):
        po[i] = pv[i]


def fast_rows(int kind, object x, object axis, object out):
    """softmax (kind 0) or log_softmax (1) over the last axis of a C-contiguous float64
    array, into out or a new array; None where the general path must take the call. A
    float32 x apart from out is widened into the target, normalised there in place
    (the general path took 6 us for 10 entries)."""
    cdef Py_ssize_t n, rows
    cdef bint f32 = False
    if not _plain(x, None):
        if not (_plain(x, None, cnp.NPY_FLOAT) and _apart_from_out(<cnp.ndarray>x, out)):
            return None
        f32 = True
    target = _fast_target(<cnp.ndarray>x, None, axis, out, &rows, &n)
    if target is None:
        return None
    cdef double* po = <double*>cnp.PyArray_DATA(<cnp.ndarray>target)
    cdef const double* px = po
    if f32:
        _widen(<cnp.ndarray>x, <cnp.ndarray>target, rows * n)
    else:
        px = <double*>cnp.PyArray_DATA(<cnp.ndarray>x)
    with nogil:
        if kind == 0:
            kernels.softmax_rows(px, po, rows, n)
        else:
            kernels.log_softmax_rows(px, po, rows, n)
    return target


def fast_backward(int kind, object g, object y, object axis, object out):
    """softmax_backward (kind 0) or log_softmax_backward (1) as fast_rows does, g and y
    of one shape; a float32 g apart from out, with y apart from it too, widened into
    the target as fast_rows does x."""
    cdef Py_ssize_t n, rows
    cdef bint f32 = False
    if not _plain(g, None):
        # g is widened into the target before y is read: both apart from out
        if not (_plain(g, None, cnp.NPY_FLOAT) and _plain(y, <cnp.ndarray>g)
                and _apart_from_out(<cnp.ndarray>g, out)
                and _apart_from_out(<cnp.ndarray>y, out)):
            return None
        f32 = True
    elif not _plain(y, <cnp.ndarray>g):
        return None
    target = _fast_target(<cnp.ndarray>g, y, axis, out, &rows, &n)
    if target is None:
        return None
    cdef double* po = <double*>cnp.PyArray_DATA(<cnp.ndarray>target)
    cdef const double* pg = po
    cdef const double* py = <double*>cnp.PyArray_DATA(<cnp.ndarray>y)
    if f32:
        _widen(<cnp.ndarray>g, <cnp.ndarray>target, rows * n)
    else:
        pg = <double*>cnp.PyArray_DATA(<cnp.ndarray>g)
    with nogil:
        if kind == 0:
            kernels.softmax_backward_rows(pg, py, po, rows, n)
        else:
            kernels.log_softmax_backward_rows(pg, py, po, rows, n)
    return target


def fast_jacobian(object x, object axis, object out):
    """softmax_jacobian as fast_rows does: out of shape x.shape + (n,) and apart from x
    (its (n, n) blocks never lie as the rows do), or a new array."""
    cdef Py_ssize_t n, rows
    cdef int d, ndim
    cdef cnp.npy_intp dims[65]
    if not _plain(x, None):
        return None
    ndim = cnp.PyArray_NDIM(<cnp.ndarray>x)
    if ndim >= 64 or not _last_axis(<cnp.ndarray>x, axis, &rows, &n):
        return None
    for d in range(ndim):
        dims[d] = cnp.PyArray_DIM(<cnp.ndarray>x, d)
    dims[ndim] = n
    if out is None:
        target = new_output(ndim + 1, dims)
    else:
        if (not _plain(out, None) or cnp.PyArray_NDIM(<cnp.ndarray>out) != ndim + 1
                or not cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out)):
            return None
        for d in range(ndim + 1):
            if cnp.PyArray_DIM(<cnp.ndarray>out, d) != dims[d]:
                return None
        if not _apart(<cnp.ndarray>x, <cnp.ndarray>out):
            return None
        target = out
    cdef const double* px = <double*>cnp.PyArray_DATA(<cnp.ndarray>x)
    cdef double* po = <double*>cnp.PyArray_DATA(<cnp.ndarray>target)
    with nogil:
        kernels.softmax_jacobian_rows(px, po, rows, n)
    return target


cdef inline double* _ptr(cnp.ndarray a, Py_ssize_t size) except NULL:
    if (cnp.PyArray_TYPE(a) != cnp.NPY_DOUBLE or not cnp.PyArray_IS_C_CONTIGUOUS(a)
            or cnp.PyArray_SIZE(a) != size):
        raise ValueError("internal: expected a C-contiguous float64 array of "
                         f"{size} elements")
    return <double*>cnp.PyArray_DATA(a)


def softmax(cnp.ndarray x, cnp.ndarray out, Py_ssize_t rows, Py_ssize_t n):
    cdef const double* px = _ptr(x, rows * n)
    cdef double* po = _ptr(out, rows * n)
    with nogil:
        kernels.softmax_rows(px, po, rows, n)


def log_softmax(cnp.ndarray x, cnp.ndarray out, Py_ssize_t rows, Py_ssize_t n):
    cdef const double* px = _ptr(x, rows * n)
    cdef double* po = _ptr(out, rows * n)
    with nogil:
        kernels.log_softmax_rows(px, po, rows, n)


def softmax_jacobian(cnp.ndarray x, cnp.ndarray out, Py_ssize_t rows, Py_ssize_t n):
    cdef const double* px = _ptr(x, rows * n)
    cdef double* po = _ptr(out, rows * n * n)
    with nogil:
        kernels.softmax_jacobian_rows(px, po, rows, n)


def softmax_backward(cnp.ndarray g, cnp.ndarray y, cnp.ndarray out, Py_ssize_t rows,
                     Py_ssize_t n):
    cdef const double* pg = _ptr(g, rows * n)
    cdef const double* py = _ptr(y, rows * n)
    cdef double* po = _ptr(out, rows * n)
    with nogil:
        kernels.softmax_backward_rows(pg, py, po, rows, n)


def log_softmax_backward(cnp.ndarray g, cnp.ndarray y, cnp.ndarray out, Py_ssize_t rows,
                         Py_ssize_t n):
    cdef const double* pg = _ptr(g, rows * n)
    cdef const double* py = _ptr(y, rows * n)
    cdef double* po = _ptr(out, rows * n)
    with nogil:
        kernels.log_softmax_backward_rows(pg, py, po, rows, n)


def softmax_cols(cnp.ndarray x, cnp.ndarray out, Py_ssize_t outer, Py_ssize_t n,
                 Py_ssize_t m):
    cdef const double* px = _ptr(x, outer * n * m)
    cdef double* po = _ptr(out, outer * n * m)
    with nogil:
        kernels.softmax_cols(px, po, outer, n, m)


def log_softmax_cols(cnp.ndarray x, cnp.ndarray out, Py_ssize_t outer, Py_ssize_t n,
                     Py_ssize_t m):
    cdef const double* px = _ptr(x, outer * n * m)
    cdef double* po = _ptr(out, outer * n * m)
    with nogil:
        kernels.log_softmax_cols(px, po, outer, n, m)
