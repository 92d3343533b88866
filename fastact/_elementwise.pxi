# The elementwise kernels (included by _kernels_impl.pxi): the exp-based functions in
# blocks of fused loops (_exp_blocks), the ReLUs, their derivatives and backward products.

# ---------------------------------------------------------------- elementwise
#
# The exp-based functions run in blocks of BLOCK elements, each in up to three loops
# with the intermediate values in buffers on the stack: the exp's reduction, then its
# polynomial and scale (s = e^a 2^128, a from the function's _arg helper, _math.pxd),
# then the rest from x and s. In one loop each element is a dependency chain of some 70
# cycles (the exp, then a division), and the scheduler fills with operations waiting on
# it long before enough elements are in flight to keep the floating-point units busy;
# shorter chains keep more of them going, for a few more L1 loads and stores per
# element. tools/ab_kernels.py, same bits: two loops against one 1.19-1.29 on the
# baseline build, 1.04-1.17 on AVX2, sigmoid 1.13 and tanh 1.05 on AVX-512; three
# against two 1.17-1.27 on the baseline build and 1.10-1.19 on AVX2. How many loops each
# instruction set takes: _WIDE_VECTORS (_math.pxd); on AVX2 the derivatives' third loop
# (the division) runs a block behind, inside the next block's second
# (_PIPELINE_DIVISION). With AVX-512 tanh takes two loops, the first the table exp
# (exp_neg_block, _TABLE_EXP; tools/ab_kernels.py against the polynomial: sigmoid
# 1.07-1.14, tanh 1.08-1.10, tanh' 1.04-1.09, sigmoid' 0.99-1.03 with one loop before,
# when all four took two loops); sigmoid and the derivatives take that exp in one
# software-pipelined C loop each, the divisions 16 entries behind their exps
# (fastact_pipelined, _math.pxd; against the two loops: sigmoid 1.08-1.22, sigmoid' and
# tanh' 1.12-1.34).
# The softmax family's terms and sums (_add_terms) and log_softmax_backward's e^y
# (_log_softmax_backward_out) are split the same way.

# Each exp-based kernel is one specialization of the fused _exp_blocks, picked by a tag
# type: Cython resolves every `ExpFunction is ...` test while it generates the C, so each
# kernel's loops are straight-line code with its constants in place, whatever the C
# compiler's inlining and cloning decide (a plain enum argument left one build with a
# runtime flag inside the loop, which then did not vectorize: 8x slower).
ctypedef struct Sigmoid:
    char unused
ctypedef struct Tanh:
    char unused
ctypedef struct SigmoidDerivative:
    char unused
ctypedef struct TanhDerivative:
    char unused

ctypedef fused ExpFunction:
    Sigmoid
    Tanh
    SigmoidDerivative
    TanhDerivative

cdef enum:
    BLOCK = 512


cdef inline double _exp_arg(double x, ExpFunction* f) noexcept nogil:
    if ExpFunction is Sigmoid:
        return f_sigmoid_arg(x)
    elif ExpFunction is Tanh:
        return f_tanh_arg(x)
    elif ExpFunction is SigmoidDerivative:
        return d_sigmoid_arg(x)
    else:
        return d_tanh_arg(x)


cdef inline double _arg_scale(ExpFunction* f) noexcept nogil:
    # c and lo of _exp_arg = max(-c|x|, lo), for exp_neg_block: they mirror the _arg
    # helpers of _math.pxd (e^-|x| or e^-2|x|, clamped at _EXP_MIN or _D_TANH_ARG_MIN).
    return 2.0 if ExpFunction is Tanh or ExpFunction is TanhDerivative else 1.0


cdef inline double _arg_min(ExpFunction* f) noexcept nogil:
    return _D_TANH_ARG_MIN if ExpFunction is TanhDerivative else _EXP_MIN


cdef inline double _finish_stage(double x, double s, ExpFunction* f) noexcept nogil:
    if ExpFunction is Sigmoid:
        return f_sigmoid(x, s)
    elif ExpFunction is Tanh:
        return f_tanh(x, s)
    elif ExpFunction is SigmoidDerivative:
        return d_sigmoid(x, s)
    else:
        return d_tanh(x, s)


cdef inline void _exp_blocks(const double* x, double* out, Py_ssize_t n,
                             ExpFunction* f) noexcept nogil:
    # out may be x: each block reads x[i + j] before it writes out[i + j] (pipelined, a
    # block is written in the next block's loop, after that block's x was read).
    cdef double buf[2][BLOCK]
    cdef double r_lo[BLOCK]
    cdef unsigned long long kb[BLOCK]
    cdef double* s = buf[0]
    cdef double* prev = buf[1]
    cdef double* t
    cdef Py_ssize_t i = 0, j, m, prev_m = 0
    cdef bint accurate = ExpFunction is Sigmoid     # see f_sigmoid
    cdef bint pipelined = False
    cdef int loops = 3
    if _TABLE_EXP and not (ExpFunction is Tanh):
        # sigmoid and the derivatives: one software-pipelined C loop (fastact_pipelined)
        if ExpFunction is Sigmoid:
            sigmoid_table(x, out, n)
        elif ExpFunction is SigmoidDerivative:
            sigmoid_derivative_table(x, out, n)
        else:
            tanh_derivative_table(x, out, n)
        return
    if _TABLE_EXP:
        loops = 2
    elif _WIDE_VECTORS:
        if ExpFunction is Sigmoid or ExpFunction is Tanh:
            loops = 2
        else:
            loops = 1
    elif _PIPELINE_DIVISION:
        pipelined = ExpFunction is SigmoidDerivative or ExpFunction is TanhDerivative
    if loops == 1:
        for i in range(n):
            out[i] = _finish_stage(x[i], _exp_scaled(_exp_arg(x[i], f), 1151, accurate), f)
        return
    while i < n:
        m = n - i if n - i < BLOCK else BLOCK
        if loops == 2 and _TABLE_EXP:
            exp_neg_block(x + i, s, m, _arg_scale(f), _arg_min(f))
        elif loops == 2:
            for j in range(m):
                s[j] = _exp_scaled(_exp_arg(x[i + j], f), 1151, accurate)
        else:
            for j in range(m):          # s holds r until the next loop
                s[j] = _exp_reduce_bits(_exp_arg(x[i + j], f), &kb[j], &r_lo[j], accurate)
            if pipelined and prev_m > 0:
                # The previous block's rest (prev_m >= m entries) in the same loop as
                # this block's polynomials.
                for j in range(m):
                    s[j] = _exp_finish(s[j], r_lo[j], kb[j], 1151, accurate)
                    out[i - prev_m + j] = _finish_stage(x[i - prev_m + j], prev[j], f)
                for j in range(m, prev_m):
                    out[i - prev_m + j] = _finish_stage(x[i - prev_m + j], prev[j], f)
            else:
                for j in range(m):
                    s[j] = _exp_finish(s[j], r_lo[j], kb[j], 1151, accurate)
        if pipelined:
            t = prev
            prev = s
            s = t
            prev_m = m
        else:
            for j in range(m):
                out[i + j] = _finish_stage(x[i + j], s[j], f)
        i += m
    for j in range(prev_m):             # the last block's rest, when pipelined
        out[n - prev_m + j] = _finish_stage(x[n - prev_m + j], prev[j], f)


cdef void sigmoid(const double* x,  # IN
                  double* out,      # OUT
                  Py_ssize_t n) noexcept nogil:
    _exp_blocks(x, out, n, <Sigmoid*>NULL)


cdef void tanh(const double* x,  # IN
               double* out,      # OUT
               Py_ssize_t n) noexcept nogil:
    _exp_blocks(x, out, n, <Tanh*>NULL)


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
    _exp_blocks(x, out, n, <SigmoidDerivative*>NULL)


cdef void tanh_derivative(const double* x,  # IN
                          double* out,      # OUT
                          Py_ssize_t n) noexcept nogil:
    _exp_blocks(x, out, n, <TanhDerivative*>NULL)


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
