# The table of kernels that each instruction-set variant (_kernels_<isa>.pyx) fills and
# kernels.pyx dispatches to. One entry per public kernel, same signatures as kernels.pxd.

ctypedef void (*unary_k)(const double*, double*, Py_ssize_t) noexcept nogil
ctypedef void (*unary_param_k)(const double*, double*, Py_ssize_t, double) noexcept nogil
ctypedef void (*binary_k)(const double*, const double*, double*, Py_ssize_t) noexcept nogil
ctypedef void (*binary_param_k)(const double*, const double*, double*, Py_ssize_t,
                                double) noexcept nogil

ctypedef void (*rows_k)(const double*, double*, Py_ssize_t, Py_ssize_t) noexcept nogil

ctypedef void (*rows2_k)(const double*, const double*, double*, Py_ssize_t,
                        Py_ssize_t) noexcept nogil

ctypedef void (*cols_k)(const double*, double*, Py_ssize_t, Py_ssize_t,
                        Py_ssize_t) noexcept nogil

# Long softmax rows: chunks of LONG_ROW entries, which threads can share (see
# _softmax_slices.pxi, and _softmax_backward.pxi for the backward products); the chunk
# length depends on nothing else, so results do not depend on the thread count.
cdef enum:
    LONG_ROW = 32768

ctypedef void (*chunk_max_k)(const double*, Py_ssize_t, double*) noexcept nogil
ctypedef int (*long_kind_k)(const double*, Py_ssize_t, double*) noexcept nogil
ctypedef void (*chunk_sum_k)(const double*, double*, Py_ssize_t, double, bint,
                             double*) noexcept nogil
ctypedef double (*long_others_k)(const double*, Py_ssize_t, double,
                                 double*) noexcept nogil
ctypedef void (*chunk_scale_k)(const double*, double*, Py_ssize_t, double, double,
                               bint) noexcept nogil

ctypedef void (*chunk_reduce_k)(const double*, const double*, Py_ssize_t, bint,
                                double*) noexcept nogil
ctypedef double (*long_reduce_k)(const double*, Py_ssize_t, double*) noexcept nogil
ctypedef void (*chunk_backward_k)(const double*, const double*, double*, Py_ssize_t, double,
                                  double, bint) noexcept nogil

ctypedef struct KernelTable:
    unary_k sigmoid
    unary_k tanh
    unary_k relu
    unary_param_k leaky_relu
    unary_k sigmoid_derivative
    unary_k tanh_derivative
    unary_k relu_derivative
    unary_param_k leaky_relu_derivative
    binary_k sigmoid_backward
    binary_k tanh_backward
    binary_k relu_backward
    binary_param_k leaky_relu_backward
    unary_k softmax
    unary_k log_softmax
    unary_k softmax_jacobian
    binary_k softmax_backward
    binary_k log_softmax_backward
    rows_k softmax_rows
    rows_k log_softmax_rows
    rows2_k softmax_backward_rows
    rows2_k log_softmax_backward_rows
    cols_k softmax_cols
    cols_k log_softmax_cols
    chunk_max_k chunk_max
    long_kind_k long_kind
    chunk_sum_k chunk_sum
    long_others_k long_others
    chunk_scale_k chunk_scale
    chunk_reduce_k chunk_reduce
    long_reduce_k long_reduce
    chunk_backward_k chunk_backward
