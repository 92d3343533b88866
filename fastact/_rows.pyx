# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Batch drivers for the softmax family: hand a C-contiguous (rows, n) float64 array to the
row kernels of kernels.pyx (which split large batches across threads), without the GIL.

Design: the Python layer (_softmax.py) has already moved the normalised axes last, made
the rows contiguous, allocated `out` and checked shapes; these functions only delegate.
"""

from fastact cimport kernels


cdef inline const double* _p(const double[:, ::1] a) noexcept nogil:
    return &a[0, 0] if a.shape[0] * a.shape[1] else NULL


cdef inline double* _w(double[:, ::1] a) noexcept nogil:
    return &a[0, 0] if a.shape[0] * a.shape[1] else NULL


def softmax(const double[:, ::1] x, double[:, ::1] out):
    with nogil:
        kernels.softmax_rows(_p(x), _w(out), x.shape[0], x.shape[1])


def log_softmax(const double[:, ::1] x, double[:, ::1] out):
    with nogil:
        kernels.log_softmax_rows(_p(x), _w(out), x.shape[0], x.shape[1])


def softmax_jacobian(const double[:, ::1] x, double[:, :, ::1] out):
    cdef double* o = &out[0, 0, 0] if out.shape[0] * out.shape[1] else NULL
    with nogil:
        kernels.softmax_jacobian_rows(_p(x), o, x.shape[0], x.shape[1])


def softmax_backward(const double[:, ::1] g, const double[:, ::1] y, double[:, ::1] out):
    with nogil:
        kernels.softmax_backward_rows(_p(g), _p(y), _w(out), g.shape[0], g.shape[1])


def log_softmax_backward(const double[:, ::1] g, const double[:, ::1] y,
                         double[:, ::1] out):
    with nogil:
        kernels.log_softmax_backward_rows(_p(g), _p(y), _w(out), g.shape[0], g.shape[1])
