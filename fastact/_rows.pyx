# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Batch drivers for the softmax family: run a slice kernel over every row of a C-contiguous
(rows, n) float64 array, without the GIL.

Design: the Python layer (_softmax.py) has already moved the normalised axes last, made
the rows contiguous, allocated `out` and checked shapes; these functions only loop.
"""

from fastact cimport kernels

ctypedef void (*unary_row)(const double*, double*, Py_ssize_t) noexcept nogil
ctypedef void (*binary_row)(const double*, const double*, double*, Py_ssize_t) noexcept nogil


cdef void _unary(unary_row k, const double[:, ::1] x, double* out,
                 Py_ssize_t out_row) noexcept nogil:
    cdef Py_ssize_t r, n = x.shape[1]
    if n == 0:
        return
    for r in range(x.shape[0]):
        k(&x[r, 0], out + r * out_row, n)


cdef void _binary(binary_row k, const double[:, ::1] g, const double[:, ::1] y,
                  double[:, ::1] out) noexcept nogil:
    cdef Py_ssize_t r, n = g.shape[1]
    if n == 0:
        return
    for r in range(g.shape[0]):
        k(&g[r, 0], &y[r, 0], &out[r, 0], n)


def softmax(const double[:, ::1] x, double[:, ::1] out):
    with nogil:
        _unary(kernels.softmax, x, &out[0, 0] if out.shape[0] * out.shape[1] else NULL,
               out.shape[1])


def log_softmax(const double[:, ::1] x, double[:, ::1] out):
    with nogil:
        _unary(kernels.log_softmax, x, &out[0, 0] if out.shape[0] * out.shape[1] else NULL,
               out.shape[1])


def softmax_jacobian(const double[:, ::1] x, double[:, :, ::1] out):
    cdef Py_ssize_t n = x.shape[1]
    with nogil:
        _unary(kernels.softmax_jacobian, x, &out[0, 0, 0] if out.shape[0] * n else NULL,
               n * n)


def softmax_backward(const double[:, ::1] g, const double[:, ::1] y, double[:, ::1] out):
    with nogil:
        _binary(kernels.softmax_backward, g, y, out)


def log_softmax_backward(const double[:, ::1] g, const double[:, ::1] y,
                         double[:, ::1] out):
    with nogil:
        _binary(kernels.log_softmax_backward, g, y, out)
