# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Array kernels of fastact: the functions declared in kernels.pxd.

Design: each elementwise kernel is a plain loop over a scalar helper from _math.pxd, so the
compiler sees one straight-line body per element and the math lives in one place. The
softmax-family kernels work on one contiguous slice: a max pass, then exp(x - max) with the
subtraction's rounding error carried along and summed with compensation (so slices of
thousands of entries stay within a few ulps), then a scale pass. Every kernel is
`noexcept nogil`: callers release the GIL around them, and nothing here allocates.
"""

from libc.math cimport INFINITY, NAN, log1p, exp, fma

from fastact._math cimport (
    f_sigmoid, f_tanh, f_relu, f_leaky_relu,
    d_sigmoid, d_tanh, d_relu, d_leaky_relu,
    b_sigmoid, b_tanh, b_relu, b_leaky_relu,
    two_sum_err, exp_shifted,
)


# ---------------------------------------------------------------- elementwise

cdef void sigmoid(const double* x,  # IN
                  double* out,      # OUT
                  Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = f_sigmoid(x[i])


cdef void tanh(const double* x,  # IN
               double* out,      # OUT
               Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = f_tanh(x[i])


cdef void relu(const double* x,  # IN
               double* out,      # OUT
               Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = f_relu(x[i])


cdef void leaky_relu(const double* x,  # IN
                     double* out,      # OUT
                     Py_ssize_t n, double alpha) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = f_leaky_relu(x[i], alpha)


cdef void sigmoid_derivative(const double* x,  # IN
                             double* out,      # OUT
                             Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = d_sigmoid(x[i])


cdef void tanh_derivative(const double* x,  # IN
                          double* out,      # OUT
                          Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = d_tanh(x[i])


cdef void relu_derivative(const double* x,  # IN
                          double* out,      # OUT
                          Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = d_relu(x[i])


cdef void leaky_relu_derivative(const double* x,  # IN
                                double* out,      # OUT
                                Py_ssize_t n, double alpha) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = d_leaky_relu(x[i], alpha)


cdef void sigmoid_backward(const double* grad_output,  # IN
                           const double* output,       # IN
                           double* out,                # OUT
                           Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = b_sigmoid(grad_output[i], output[i])


cdef void tanh_backward(const double* grad_output,  # IN
                        const double* output,       # IN
                        double* out,                # OUT
                        Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = b_tanh(grad_output[i], output[i])


cdef void relu_backward(const double* grad_output,  # IN
                        const double* output,       # IN
                        double* out,                # OUT
                        Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = b_relu(grad_output[i], output[i])


cdef void leaky_relu_backward(const double* grad_output,  # IN
                              const double* output,       # IN
                              double* out,                # OUT
                              Py_ssize_t n, double alpha) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = b_leaky_relu(grad_output[i], output[i], alpha)


# ---------------------------------------------------------------- softmax family

# What the max pass found in a slice.
cdef enum SliceKind:
    FINITE_MAX      # the usual case: shift by the (finite) max
    ALL_NAN         # a NaN, or every entry -inf: the whole slice is NaN
    HAS_POS_INF     # +inf entries share all the mass equally


cdef inline SliceKind _slice_max(const double* x, Py_ssize_t n,
                                 double* m, Py_ssize_t* arg) noexcept nogil:
    cdef Py_ssize_t i, k = 0
    cdef double v, mx = x[0]
    cdef bint nan = False
    for i in range(n):
        v = x[i]
        nan |= v != v
        if v > mx:
            mx = v
            k = i
    m[0] = mx
    arg[0] = k
    if nan or mx == -INFINITY:
        return ALL_NAN
    if mx == INFINITY:
        return HAS_POS_INF
    return FINITE_MAX


cdef inline double _sum_exp_shifted(const double* x, double* out,
                                    Py_ssize_t lo, Py_ssize_t hi, double m,
                                    double* comp) noexcept nogil:
    # Sum of exp(x[i] - m) over [lo, hi), compensated (the lost low parts accumulate in
    # comp). Writes the terms to out[i] unless out is NULL.
    cdef Py_ssize_t i
    cdef double e, t, s = 0.0, c = 0.0
    for i in range(lo, hi):
        e = exp_shifted(x[i], m)
        if out != NULL:
            out[i] = e
        t = s + e
        c += two_sum_err(s, e, t)
        s = t
    comp[0] += c
    return s


cdef inline double _sum_others(const double* x, double* out, Py_ssize_t n,
                               double m, Py_ssize_t arg) noexcept nogil:
    # T = sum of exp(x[i] - m) over every i except the (first) argmax, so that the whole
    # sum is 1 + T with T kept apart: log1p(T) and 1 - s_arg = T / (1 + T) stay accurate.
    cdef double c = 0.0, t
    cdef double a = _sum_exp_shifted(x, out, 0, arg, m, &c)
    cdef double b = _sum_exp_shifted(x, out, arg + 1, n, m, &c)
    if out != NULL:
        out[arg] = 1.0
    t = a + b
    return t + (c + two_sum_err(a, b, t))


cdef inline void _fill(double* out, Py_ssize_t n, double v) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = v


cdef inline void _split_inf(const double* x, double* out, Py_ssize_t n,
                            double hit, double miss) noexcept nogil:
    # out[i] = hit where x[i] is +inf, miss elsewhere.
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = hit if x[i] == INFINITY else miss


cdef inline Py_ssize_t _count_inf(const double* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i, k = 0
    for i in range(n):
        k += x[i] == INFINITY
    return k


cdef inline SliceKind _softmax_into(const double* x, double* out, Py_ssize_t n,
                                    double* others, Py_ssize_t* arg) noexcept nogil:
    # softmax of a non-empty slice; returns the kind and, for FINITE_MAX, the sum of the
    # non-max terms (`others`) and the argmax.
    cdef double m, s
    cdef Py_ssize_t i
    cdef SliceKind kind = _slice_max(x, n, &m, arg)
    if kind == ALL_NAN:
        _fill(out, n, NAN)
    elif kind == HAS_POS_INF:
        _split_inf(x, out, n, 1.0 / _count_inf(x, n), 0.0)
    else:
        others[0] = _sum_others(x, out, n, m, arg[0])
        s = 1.0 + others[0]
        for i in range(n):
            out[i] = out[i] / s
    return kind


cdef void softmax(const double* x,  # IN
                  double* out,      # OUT
                  Py_ssize_t n) noexcept nogil:
    cdef double others
    cdef Py_ssize_t arg
    if n > 0:
        _softmax_into(x, out, n, &others, &arg)


cdef void log_softmax(const double* x,  # IN
                      double* out,      # OUT
                      Py_ssize_t n) noexcept nogil:
    cdef double m, lse, d
    cdef Py_ssize_t i, arg
    cdef SliceKind kind
    if n == 0:
        return
    kind = _slice_max(x, n, &m, &arg)
    if kind == ALL_NAN:
        _fill(out, n, NAN)
    elif kind == HAS_POS_INF:
        _split_inf(x, out, n, -log1p(<double>(_count_inf(x, n) - 1)), -INFINITY)
    else:
        # log_softmax_i = (x_i - m) - log(1 + T): the subtraction's rounding error is
        # added back, and log1p keeps the max entry accurate when T is tiny.
        lse = log1p(_sum_others(x, NULL, n, m, arg))
        for i in range(n):
            d = x[i] - m
            if d == -INFINITY:
                out[i] = d
            else:
                out[i] = (d - lse) + two_sum_err(x[i], -m, d)


cdef void softmax_jacobian(const double* x,  # IN
                           double* out,      # OUT, n * n
                           Py_ssize_t n) noexcept nogil:
    # s is computed into the last row and read from there; that row is rewritten last,
    # each entry read before it is overwritten.
    cdef double others = 0.0, si
    cdef Py_ssize_t i, j, arg = -1
    cdef double* s
    cdef SliceKind kind
    if n == 0:
        return
    s = out + (n - 1) * n
    kind = _softmax_into(x, s, n, &others, &arg)
    for i in range(n - 1):
        si = s[i]
        for j in range(n):
            out[i * n + j] = -si * s[j]
        out[i * n + i] = si * _one_minus(kind, i, arg, others, si)
    si = s[n - 1]
    for j in range(n - 1):
        s[j] = -si * s[j]
    s[n - 1] = si * _one_minus(kind, n - 1, arg, others, si)


cdef inline double _one_minus(SliceKind kind, Py_ssize_t i, Py_ssize_t arg, double others,
                              double si) noexcept nogil:
    # 1 - s_i; for the max entry it is T / (1 + T), free of cancellation when s_i ~ 1.
    if kind == FINITE_MAX and i == arg:
        return others / (1.0 + others)
    return 1.0 - si


cdef inline double _dot(const double* a, const double* b, Py_ssize_t n,
                        double* low) noexcept nogil:
    # Compensated dot product (Ogita-Rump-Oishi Dot2): exact products via fma,
    # compensated sum; returned as a double-double hi + low[0].
    cdef Py_ssize_t i
    cdef double p, t, s = 0.0, c = 0.0
    for i in range(n):
        p = a[i] * b[i]
        c += fma(a[i], b[i], -p)
        t = s + p
        c += two_sum_err(s, p, t)
        s = t
    t = s + c
    low[0] = two_sum_err(s, c, t)
    return t


cdef inline double _sum(const double* a, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef double t, s = 0.0, c = 0.0
    for i in range(n):
        t = s + a[i]
        c += two_sum_err(s, a[i], t)
        s = t
    return s + c


cdef void softmax_backward(const double* grad_output,  # IN
                           const double* output,       # IN
                           double* out,                # OUT
                           Py_ssize_t n) noexcept nogil:
    # g_i - dot cancels when g_i is close to the dot product: subtracting its high part
    # first (exact there, by Sterbenz) and then its low part keeps the difference accurate.
    cdef Py_ssize_t i
    cdef double low
    cdef double dot = _dot(grad_output, output, n, &low)
    for i in range(n):
        out[i] = output[i] * ((grad_output[i] - dot) - low)


cdef void log_softmax_backward(const double* grad_output,  # IN
                               const double* output,       # IN
                               double* out,                # OUT
                               Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef double total = _sum(grad_output, n)
    for i in range(n):
        out[i] = fma(-exp(output[i]), total, grad_output[i])
