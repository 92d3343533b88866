# Scalar math of every elementwise activation: one `cdef inline ... noexcept nogil`
# function per formula, shared by the array kernels (kernels.pyx) and the strided ufunc
# loops (_ufuncs.pyx). Swapping the math (SIMD exp, other polynomials) happens here only.
#
# Conventions: f_<name>(x) is the forward value, d_<name>(x) the derivative at the input,
# b_<name>(g, y) the backward product from the saved forward output y. No helper raises a
# floating-point exception flag other than underflow/inexact, so NumPy never warns.

from libc.math cimport exp, tanh, fabs, signbit, fma

cdef extern from "<math.h>" nogil:
    # Quiet comparisons: false for NaN without raising FE_INVALID, which the plain
    # relational operators do on x86 (and NumPy turns into a RuntimeWarning).
    bint isgreater(double x, double y)
    bint islessequal(double x, double y)


cdef inline double f_sigmoid(double x) noexcept nogil:
    # t = e^-|x| never overflows; for x < 0, sigma(x) = t / (1 + t) keeps subnormal
    # results (x in [-745, -709]) exact to the rounding of exp itself.
    cdef double t = exp(-fabs(x))
    cdef double num = t if signbit(x) else 1.0
    return num / (1.0 + t)


cdef inline double f_tanh(double x) noexcept nogil:
    return tanh(x)


cdef inline double f_relu(double x) noexcept nogil:
    # NaN propagates: both quiet comparisons are false for NaN.
    return 0.0 if islessequal(x, 0.0) else x


cdef inline double f_leaky_relu(double x, double alpha) noexcept nogil:
    return alpha * x if islessequal(x, 0.0) else x


cdef inline double d_sigmoid(double x) noexcept nogil:
    # sigma'(x) = t / (1 + t)^2 with t = e^-|x|: no 1 - sigma cancellation, so the
    # tail (sigma'(40) = 4.2e-18) keeps full relative accuracy.
    cdef double t = exp(-fabs(x))
    cdef double u = 1.0 + t
    cdef double r = t / (u * u)
    return 0.25 if isgreater(r, 0.25) else r    # rounding may cross the maximum 1/4


cdef inline double d_tanh(double x) noexcept nogil:
    # tanh'(x) = sech^2(x) = 4t / (1 + t)^2 with t = e^-2|x|. Past |x| = 20 the
    # denominator is 1 to working precision and (2 e^-|x|)^2 rounds once, so
    # subnormal results (|x| > 353) are not double-rounded through e^-2|x|.
    cdef double a = fabs(x)
    cdef double t, u
    if isgreater(a, 20.0):
        t = 2.0 * exp(-a)
        return t * t
    t = exp(-2.0 * a)
    u = 1.0 + t
    t = (4.0 * t) / (u * u)
    return 1.0 if isgreater(t, 1.0) else t      # rounding may cross the maximum 1


cdef inline double d_relu(double x) noexcept nogil:
    # relu'(0) = 0 (PyTorch's convention); NaN propagates.
    if islessequal(x, 0.0):
        return 0.0
    return 1.0 if isgreater(x, 0.0) else x


cdef inline double d_leaky_relu(double x, double alpha) noexcept nogil:
    # leaky_relu'(0) = alpha (PyTorch's convention); NaN propagates.
    if islessequal(x, 0.0):
        return alpha
    return 1.0 if isgreater(x, 0.0) else x


# Backward products. Where the local derivative is exactly 0 the result is 0, so an
# infinite upstream gradient gives 0 rather than inf * 0 = NaN (and no invalid flag).

cdef inline double b_sigmoid(double g, double y) noexcept nogil:
    cdef double d = y * (1.0 - y)
    return 0.0 if d == 0.0 else g * d


cdef inline double b_tanh(double g, double y) noexcept nogil:
    # (1 - y)(1 + y) rather than 1 - y^2: exact factors near |y| = 1.
    cdef double d = (1.0 - y) * (1.0 + y)
    return 0.0 if d == 0.0 else g * d


cdef inline double b_relu(double g, double y) noexcept nogil:
    if islessequal(y, 0.0):
        return 0.0
    return g if isgreater(y, 0.0) else y


cdef inline double b_leaky_relu(double g, double y, double alpha) noexcept nogil:
    # y = alpha * x has the sign of x for alpha > 0, so y <= 0 selects the leaky branch.
    if islessequal(y, 0.0):
        return 0.0 if alpha == 0.0 else g * alpha
    return g if isgreater(y, 0.0) else y


# Error-free transformations for the softmax family.

cdef inline double two_sum_err(double a, double b, double s) noexcept nogil:
    # Knuth's TwoSum: s = fl(a + b) and the exact rounding error a + b - s.
    cdef double bb = s - a
    return (a - (s - bb)) + (b - bb)


cdef inline double exp_shifted(double x, double m) noexcept nogil:
    # exp(x - m) with the rounding error of the subtraction carried along:
    # x - m = d + e exactly, and exp(d + e) = exp(d) (1 + e) to first order.
    cdef double d = x - m
    cdef double v
    if d < -746.0:
        return 0.0              # exp underflows; also avoids inf - inf in two_sum_err
    v = exp(d)
    return fma(v, two_sum_err(x, -m, d), v)
