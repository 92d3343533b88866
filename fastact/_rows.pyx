# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Batch drivers for the softmax family: hand C-contiguous float64 arrays to the row (and
column) kernels of kernels.pyx, which split large batches across threads, without the GIL.

Design: the Python layer (_softmax.py) has already moved the normalised axes last, made
the rows contiguous, allocated `out` and checked shapes; these functions check the layout
cheaply (a wrong one would be memory corruption, not a wrong answer) and delegate. They
take ndarrays, not typed memoryviews, whose set-up costs microseconds on small arrays.
"""

cimport numpy as cnp

from fastact cimport kernels

cnp.import_array()


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
