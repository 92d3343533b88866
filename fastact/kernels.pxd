# The Cython API of fastact: `from fastact cimport kernels`.
#
# Every kernel loops over contiguous float64 buffers, runs without the GIL and never
# raises. Each call goes to the instruction-set variant chosen at import (see
# fastact.show_config()), and large calls are split across threads. `x`, `grad_output`
# and `output` are read (# IN), `out` is written (# OUT); `out` may be the same buffer as
# an input (in place). An elementwise kernel's `out` may also start before its input with
# the two overlapping (a shift, as NumPy passes `a[1:]` into `a[:-1]`; such a call runs on
# one thread); no other partial overlap is allowed.
# The elementwise kernels take n elements; the softmax-family kernels take one slice of
# n elements (call them once per row).

# Forward.
cdef void sigmoid(const double* x, double* out, Py_ssize_t n) noexcept nogil
cdef void tanh(const double* x, double* out, Py_ssize_t n) noexcept nogil
cdef void relu(const double* x, double* out, Py_ssize_t n) noexcept nogil
cdef void leaky_relu(const double* x, double* out, Py_ssize_t n, double alpha) noexcept nogil

# Derivative at the input, f'(x).
cdef void sigmoid_derivative(const double* x, double* out, Py_ssize_t n) noexcept nogil
cdef void tanh_derivative(const double* x, double* out, Py_ssize_t n) noexcept nogil
cdef void relu_derivative(const double* x, double* out, Py_ssize_t n) noexcept nogil
cdef void leaky_relu_derivative(const double* x, double* out, Py_ssize_t n,
                                double alpha) noexcept nogil

# Backward: out = grad_output * f'(x), computed from the saved forward output f(x).
cdef void sigmoid_backward(const double* grad_output, const double* output, double* out,
                           Py_ssize_t n) noexcept nogil
cdef void tanh_backward(const double* grad_output, const double* output, double* out,
                        Py_ssize_t n) noexcept nogil
cdef void relu_backward(const double* grad_output, const double* output, double* out,
                        Py_ssize_t n) noexcept nogil
cdef void leaky_relu_backward(const double* grad_output, const double* output, double* out,
                              Py_ssize_t n, double alpha) noexcept nogil

# Softmax family, on one slice of n elements.
cdef void softmax(const double* x, double* out, Py_ssize_t n) noexcept nogil
cdef void log_softmax(const double* x, double* out, Py_ssize_t n) noexcept nogil
# out is n*n, row-major: out[i*n + j] = s_i (delta_ij - s_j).
cdef void softmax_jacobian(const double* x, double* out, Py_ssize_t n) noexcept nogil
# out_i = s_i (g_i - sum_j g_j s_j), from the saved softmax output s.
cdef void softmax_backward(const double* grad_output, const double* output, double* out,
                           Py_ssize_t n) noexcept nogil
# out_i = g_i - exp(o_i) sum_j g_j, from the saved log_softmax output o.
cdef void log_softmax_backward(const double* grad_output, const double* output, double* out,
                               Py_ssize_t n) noexcept nogil

# Batches: `rows` contiguous slices of n elements each (row r at offset r * n; the
# Jacobian's out row at r * n * n). Large batches are split by rows across threads.
cdef void softmax_rows(const double* x, double* out, Py_ssize_t rows,
                       Py_ssize_t n) noexcept nogil
cdef void log_softmax_rows(const double* x, double* out, Py_ssize_t rows,
                           Py_ssize_t n) noexcept nogil
cdef void softmax_jacobian_rows(const double* x, double* out, Py_ssize_t rows,
                                Py_ssize_t n) noexcept nogil
cdef void softmax_backward_rows(const double* grad_output, const double* output, double* out,
                                Py_ssize_t rows, Py_ssize_t n) noexcept nogil
cdef void log_softmax_backward_rows(const double* grad_output, const double* output,
                                    double* out, Py_ssize_t rows, Py_ssize_t n) noexcept nogil

# For fastact's own ufunc loop, not a kernel: piece(ctx, lo, m) over n entries, whole or
# in pieces on the thread team as the kernels split (cheap: no exp, twice the threshold).
ctypedef void (*piece_k)(void* ctx, Py_ssize_t lo, Py_ssize_t m) noexcept nogil
cdef void split_pieces(piece_k piece, void* ctx, Py_ssize_t n, bint cheap) noexcept nogil

# Over a non-last axis without transposing: `outer` blocks of n rows x m columns
# (C-contiguous, block b at offset b * n * m); each column of each block is one slice.
cdef void softmax_cols(const double* x, double* out, Py_ssize_t outer, Py_ssize_t n,
                       Py_ssize_t m) noexcept nogil
cdef void log_softmax_cols(const double* x, double* out, Py_ssize_t outer, Py_ssize_t n,
                           Py_ssize_t m) noexcept nogil
