# The array kernels, included by each instruction-set variant (_kernels_<isa>.pyx), which
# setup.py compiles with its own -march flags; kernels.pyx picks one at import.
#
# Design: each elementwise kernel is a loop over scalar helpers from _math.pxd (one to
# three loops per block for the exp-based ones, see _exp_blocks), so the compiler sees
# straight-line bodies and the math lives in one place; the exception is AVX-512 sigmoid,
# sigmoid' and tanh', one C loop of intrinsics each (fastact_pipelined), whose
# fastact_finish8 repeats f_sigmoid, d_sigmoid and d_tanh operation for operation. The
# softmax-family kernels work on one contiguous slice: a max pass, then the exp terms
# relative to the max (reduced from x itself, see _sum_others) summed with compensation
# (so slices of thousands of entries stay within a few ulps), then a scale pass. Every
# kernel is `noexcept nogil`: callers release the GIL around them, and nothing here
# allocates.
# At the end, the table of these kernels is exported as a capsule.

from cpython.pycapsule cimport PyCapsule_New
from libc.math cimport INFINITY, NAN, fabs, log1p

from fastact._table cimport KernelTable, LONG_ROW

from fastact._math cimport (
    f_sigmoid_arg, f_sigmoid, f_tanh_arg, f_tanh, f_relu, f_leaky_relu,
    d_sigmoid_arg, d_sigmoid, d_tanh_arg, d_tanh, d_relu, d_leaky_relu,
    b_sigmoid, b_tanh, b_relu, b_leaky_relu,
    two_sum_err, two_prod_err, div_by, exp_shifted, exp_units, exp_units_offset,
    exp_units_term, exp_units_reduce, exp_units_finish, vexp, vlog1p, _TERM_MIN,
    _TWO_P128, _WIDE_VECTORS, _PIPELINE_DIVISION, _exp_scaled, _exp_reduce_bits,
    _exp_finish, vexp_reduce, vexp_finish, _TABLE_EXP, exp_neg_block, sigmoid_table,
    sigmoid_derivative_table, tanh_derivative_table, _EXP_MIN, _D_TANH_ARG_MIN,
)

# The kernels, in the order Cython compiles them (each file uses the ones before it):
include "_elementwise.pxi"          # sigmoid, tanh, ReLUs: forward, derivative, backward
include "_softmax_lanes.pxi"        # lanes, max passes, terms and their sums
include "_softmax_slices.pxi"       # softmax / log_softmax of one slice, long rows
include "_softmax_columns.pxi"      # other axes, short rows, row batches, the Jacobian
include "_softmax_backward.pxi"     # softmax_backward, log_softmax_backward


# ---------------------------------------------------------------- export

cdef KernelTable _TABLE
_TABLE.sigmoid = sigmoid
_TABLE.tanh = tanh
_TABLE.relu = relu
_TABLE.leaky_relu = leaky_relu
_TABLE.sigmoid_derivative = sigmoid_derivative
_TABLE.tanh_derivative = tanh_derivative
_TABLE.relu_derivative = relu_derivative
_TABLE.leaky_relu_derivative = leaky_relu_derivative
_TABLE.sigmoid_backward = sigmoid_backward
_TABLE.tanh_backward = tanh_backward
_TABLE.relu_backward = relu_backward
_TABLE.leaky_relu_backward = leaky_relu_backward
_TABLE.softmax = softmax_slice
_TABLE.log_softmax = log_softmax_slice
_TABLE.softmax_rows = softmax_rows
_TABLE.log_softmax_rows = log_softmax_rows
_TABLE.softmax_jacobian = softmax_jacobian
_TABLE.softmax_backward = softmax_backward_slice
_TABLE.log_softmax_backward = log_softmax_backward_slice
_TABLE.softmax_backward_rows = softmax_backward_rows
_TABLE.log_softmax_backward_rows = log_softmax_backward_rows
_TABLE.softmax_cols = softmax_cols
_TABLE.log_softmax_cols = log_softmax_cols
_TABLE.chunk_max = chunk_max
_TABLE.long_kind = long_kind
_TABLE.chunk_sum = chunk_sum
_TABLE.long_others = long_others
_TABLE.chunk_scale = chunk_scale
_TABLE.chunk_reduce = chunk_reduce
_TABLE.long_reduce = long_reduce
_TABLE.chunk_backward = chunk_backward

table = PyCapsule_New(<void*>&_TABLE, b"fastact.KernelTable", NULL)
