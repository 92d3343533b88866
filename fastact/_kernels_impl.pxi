# The array kernels, included by each instruction-set variant (_kernels_<isa>.pyx), which
# setup.py compiles with its own -march flags; kernels.pyx picks one at import.
#
# Design: each elementwise kernel is a loop over scalar helpers from _math.pxd (one to
# three loops per block for the exp-based ones, see _exp_blocks), so the compiler sees
# straight-line bodies and the math lives in one place. The softmax-family kernels work
# on one contiguous slice: a max pass, then the exp terms relative to the max (reduced
# from x itself, see _sum_others) summed with compensation (so slices of thousands of
# entries stay within a few ulps), then a scale pass. Every kernel is `noexcept nogil`:
# callers release the GIL around them, and nothing here allocates.
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
    _exp_finish, vexp_reduce, vexp_finish, _TABLE_EXP, exp_neg_block, _EXP_MIN,
    _D_TANH_ARG_MIN,
)


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
# (_PIPELINE_DIVISION). With AVX-512 all four take two loops, the first the table exp
# (exp_neg_block, _TABLE_EXP; tools/ab_kernels.py against the polynomial: sigmoid
# 1.07-1.14, tanh 1.08-1.10, tanh' 1.04-1.09, sigmoid' 0.99-1.03 with one loop before).
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


# ---------------------------------------------------------------- softmax family
#
# Reductions run over L independent accumulators (lane j takes elements i = j mod L),
# which GCC turns into SIMD registers, and the lanes are combined by a fixed pairwise tree:
# results do not depend on the thread count (the instruction-set variants differ only by
# their fused multiply-adds, and AVX2's polynomial order, _math.pxd). L is LANES for long
# slices and SHORT_LANES below SHORT
# entries, where combining 32 lanes would cost more than the slice itself; each helper
# takes L as an argument that is a constant at every call, so each lane count compiles to
# its own loops.

cdef extern from *:
    """
    /* Entries per block of _add_terms' split loops: 128 for its three loops, 512 for
       AVX-512's two (without the table exp; tools/ab_kernels.py, rows of 1000 and 1e6:
       128 against 512 1.07-1.16 on AVX2, 0.95-1.00 on AVX-512). A multiple of LANES
       (32), so that entry e still goes to lane e mod LANES: the typedef fails to
       compile otherwise. */
    #define FASTACT_TERM_BLOCK (FASTACT_WIDE_VECTORS ? 512 : 128)
    typedef char fastact_term_block_is_a_multiple_of_lanes[
        FASTACT_TERM_BLOCK % 32 == 0 ? 1 : -1];
    """
    enum: TERM_BLOCK "FASTACT_TERM_BLOCK"


cdef enum:
    LANES = 32
    SHORT_LANES = 8
    SHORT = 256
    MAX_LANES = 16      # the max pass (exact: its lane count does not change results)


cdef inline bint _near(double m) noexcept nogil:
    # Whether a slice with max m takes exp_units (|m| <= 2000, _math.pxd), the usual
    # case, rather than exp_shifted (also False for a NaN or infinite m).
    return fabs(m) <= 2000.0


# What the max pass found in a slice.
cdef enum SliceKind:
    FINITE_MAX      # the usual case: shift by the (finite) max
    ALL_NAN         # a NaN, or every entry -inf: the whole slice is NaN
    HAS_POS_INF     # +inf entries share all the mass equally


cdef inline void _fold_sum(double* a, int L) noexcept nogil:
    # a[0] = sum of a[0:L], pairwise (used on exact quantities: counts and NaN flags).
    cdef int w = L // 2, j
    while w >= 1:
        for j in range(w):
            a[j] += a[j + w]
        w //= 2


cdef inline void _max_count(double* top, double* count, double v) noexcept nogil:
    # A running max and how many entries equal it (a NaN changes neither). The maximal
    # entries are counted here, in the max pass, rather than in a third accumulator of
    # the exp pass (tools/ab_kernels.py: AVX2 log_softmax of 4096 x 10 27 % faster, rows
    # of 1000 within 5 %; bit-identical results). The AVX-512 C loop counts them as it
    # goes instead (_near_slice), where a count is one popcount of a compare mask.
    count[0] = 1.0 if v > top[0] else (count[0] + 1.0 if v == top[0] else count[0])
    top[0] = v if v > top[0] else top[0]


cdef inline void _fold_max_count(double* top, double* count, int L) noexcept nogil:
    # top[0], count[0] = the max of top[0:L] and how many entries equal it, pairwise.
    cdef int w = L // 2, j
    cdef double a, b
    while w >= 1:
        for j in range(w):
            a = top[j]
            b = top[j + w]
            count[j] = count[j] if a > b else (count[j + w] if b > a
                                                else count[j] + count[j + w])
            top[j] = a if a > b else b
        w //= 2


cdef inline SliceKind _slice_max_lanes(const double* x, Py_ssize_t n, double* m,
                                       double* ties, int L) noexcept nogil:
    # Lane-wise max and count of maximal entries (*ties); the lane sums of the entries
    # are not finite when a NaN or an infinity was seen (or, rarely, when they overflow),
    # which sends the slice to the exact check below.
    cdef double lane[LANES]
    cdef double count[LANES]
    cdef double odd[LANES]
    cdef Py_ssize_t b, j, i
    cdef double v, mx
    for j in range(L):
        lane[j] = -INFINITY
        count[j] = 0.0
        odd[j] = 0.0
    for b in range(n // L):
        for j in range(L):
            v = x[b * L + j]
            _max_count(&lane[j], &count[j], v)
            odd[j] += v
    for j in range(n % L):      # tail entries each to their own lane, as in _add_terms
        v = x[n - n % L + j]
        _max_count(&lane[j], &count[j], v)
        odd[j] += v
    _fold_max_count(lane, count, L)
    _fold_sum(odd, L)
    mx = lane[0]
    m[0] = mx
    ties[0] = count[0]
    if odd[0] - odd[0] == 0.0:     # finite
        return FINITE_MAX if mx != -INFINITY else ALL_NAN
    for i in range(n):
        if x[i] != x[i]:
            return ALL_NAN
    if mx == -INFINITY:
        return ALL_NAN
    if mx == INFINITY:
        return HAS_POS_INF
    return FINITE_MAX


cdef inline SliceKind _slice_max(const double* x, Py_ssize_t n, double* m,
                                 double* ties) noexcept nogil:
    if n < SHORT:
        return _slice_max_lanes(x, n, m, ties, SHORT_LANES)
    return _slice_max_lanes(x, n, m, ties, MAX_LANES)


cdef inline void _lane_add(double* s, double* c, double v) noexcept nogil:
    # s + c += v, compensated (TwoSum: the rounding error of s + v goes to c).
    cdef double t = s[0] + v
    c[0] += two_sum_err(s[0], v, t)
    s[0] = t


cdef inline void _term_add(double* s, double* c, double v) noexcept nogil:
    # _lane_add for the softmax family's terms, s and v >= 0: Fast2Sum on the larger
    # and the smaller gives TwoSum's exact error (same bits) in one operation fewer, as
    # the AVX-512 C loop does (fastact_two_sum8; tools/ab_kernels.py, AVX2: 1.00-1.05).
    # A NaN v passes to t (neither comparison holds) and c keeps it.
    cdef double a = s[0] if s[0] > v else v
    cdef double b = v if s[0] > v else s[0]
    cdef double t = a + b
    c[0] += b - (t - a)
    s[0] = t


cdef inline double _dd_hi(double a, double b, double* low) noexcept nogil:
    # a + b as one double-double: returns hi = fl(a + b), *low = the exact rest.
    cdef double hi = a + b
    low[0] = two_sum_err(a, b, hi)
    return hi


cdef inline double _combine(double* s, double* c, double* low, int L) noexcept nogil:
    # The L lanes' double-double sums s + c, added by a fixed pairwise tree (overwriting
    # s and c); returns hi (and low[0]).
    cdef int w = L // 2, j
    cdef double t
    while w >= 1:
        for j in range(w):
            t = s[j] + s[j + w]
            c[j] += two_sum_err(s[j], s[j + w], t) + c[j + w]
            s[j] = t
        w //= 2
    return _dd_hi(s[0], c[0], low)


cdef inline double _lane_value(const double* x, double* out, Py_ssize_t i, double m,
                               double t, bint store) noexcept nogil:
    # Term t of entry i stored to out[i] when `store`, and returned as the lanes take it:
    # 0 for a maximal entry, which is counted apart. x[i] is read before out[i] is
    # written (out may be x).
    cdef double xi = x[i]
    if store:
        out[i] = t
    return 0.0 if xi == m else t


cdef inline double _term(const double* x, double* out, Py_ssize_t i, double m, double lo,
                         unsigned long long offset, bint near, bint store) noexcept nogil:
    # One term of _sum_others, through _lane_value. `near` and `store` are constants at
    # each call site, so every combination compiles to its own branch-free loop.
    cdef double t = exp_units_term(x[i], lo, offset) if near else exp_shifted(x[i], m)
    return _lane_value(x, out, i, m, t, store)


cdef extern from *:
    """
    #if FASTACT_TABLE_EXP
    static inline void fastact_two_sum8(__m512d* s, __m512d* c, __m512d v) {
        /* _lane_add on 8 lanes: s + c += v, the rounding error of s + v into c. Both are
           >= 0, so Fast2Sum on the larger and the smaller gives TwoSum's exact error in
           one operation fewer. v must be the second operand of max and min, which
           return it where either is NaN: a NaN term then reaches t and c, and c keeps
           it (how _near_slice and a long row's chunks find a NaN entry). */
        __m512d a = _mm512_max_pd(*s, v), b = _mm512_min_pd(*s, v);
        __m512d t = _mm512_add_pd(a, b);
        *c = _mm512_add_pd(*c, _mm512_sub_pd(b, _mm512_sub_pd(t, a)));
        *s = t;
    }

    static inline double fastact_slice_max(const double* x, Py_ssize_t n, double* mn) {
        /* The max of x[0:n] ignoring NaN, -inf if there is none (max_pd returns its
           second operand where either is NaN, so a NaN entry leaves the accumulator
           be), and *mn the min likewise (+inf if none): it tells _near_slice (and
           chunk_max, _long_near) whether any entry lies below the terms' cutoff. Exact, so the lane count does not
           matter, except that of a +0 and a -0 the max may be either, as it may be in
           _slice_max_lanes (whose lanes and fold keep a different one): no result
           depends on the sign of a zero max (the offset, the unit, x - m, x == m). */
        const __m512d ninf = _mm512_set1_pd(-INFINITY), pinf = _mm512_set1_pd(INFINITY);
        __m512d a0 = ninf, a1 = ninf, a2 = ninf, a3 = ninf, b0 = pinf, b1 = pinf;
        __m512d v;
        Py_ssize_t i = 0;
        for (; i + 32 <= n; i += 32) {
            v = _mm512_loadu_pd(x + i);
            a0 = _mm512_max_pd(v, a0);
            b0 = _mm512_min_pd(v, b0);
            v = _mm512_loadu_pd(x + i + 8);
            a1 = _mm512_max_pd(v, a1);
            b1 = _mm512_min_pd(v, b1);
            v = _mm512_loadu_pd(x + i + 16);
            a2 = _mm512_max_pd(v, a2);
            b0 = _mm512_min_pd(v, b0);
            v = _mm512_loadu_pd(x + i + 24);
            a3 = _mm512_max_pd(v, a3);
            b1 = _mm512_min_pd(v, b1);
        }
        for (; i + 8 <= n; i += 8) {
            v = _mm512_loadu_pd(x + i);
            a0 = _mm512_max_pd(v, a0);
            b0 = _mm512_min_pd(v, b0);
        }
        if (i < n) {
            __mmask8 k = (__mmask8)((1u << (n - i)) - 1);
            a1 = _mm512_max_pd(_mm512_mask_loadu_pd(ninf, k, x + i), a1);
            b1 = _mm512_min_pd(_mm512_mask_loadu_pd(pinf, k, x + i), b1);
        }
        /* the 8 lanes in a plain loop (once a slice; no _mm512_reduce_*, which not
           every compiler has) */
        double top[8], low[8], m, lo;
        _mm512_storeu_pd(top, _mm512_max_pd(_mm512_max_pd(a0, a1), _mm512_max_pd(a2, a3)));
        _mm512_storeu_pd(low, _mm512_min_pd(b0, b1));
        m = top[0];
        lo = low[0];
        for (int j = 1; j < 8; j++) {
            m = top[j] > m ? top[j] : m;
            lo = low[j] < lo ? low[j] : lo;
        }
        *mn = lo;
        return m;
    }

    static inline __m512d fastact_units_group(const double* x, double* out, Py_ssize_t i,
                                              __mmask8 k, __mmask8 ks,
                                              const __m512d* table,
                                              __m512i off, __m512d vlo, __m512d vmx,
                                              int store, int clamp, Py_ssize_t* ntop) {
        /* Entries x[i:i+8] where k is set: their terms (0 below lo, -inf too), stored to
           out when `store` where ks is set (k, or fewer lanes), returned as the lanes
           take them (0 at the max, and where k
           is clear: lane values of 0 leave s and c as they are); *ntop += how many
           equal the max. A NaN entry's term is NaN. Without `clamp` every
           entry must be >= lo (none is -inf): the exp takes x as it is, 3 operations
           fewer per 8 entries, the same terms; masked-off lanes read mx. */
        __m512d xv, t;
        if (clamp) {
            xv = _mm512_maskz_loadu_pd(k, x + i);
            t = _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(xv, vlo, _CMP_NLT_UQ),
                                    fastact_exp_table8(_mm512_max_pd(vlo, xv), table, off));
        } else {
            xv = _mm512_mask_loadu_pd(vmx, k, x + i);
            t = fastact_exp_table8(xv, table, off);
        }
        __mmask8 top = k & _mm512_cmp_pd_mask(xv, vmx, _CMP_EQ_OQ);
        if (store)
            _mm512_mask_storeu_pd(out + i, ks, t);
        *ntop += _mm_popcnt_u32((unsigned)top);
        return _mm512_maskz_mov_pd(k & (__mmask8)~top, t);
    }

    static inline double fastact_units_unit(double mx, unsigned long long offset) {
        /* The term of an entry equal to the max mx, as fastact_units_group computes it:
           the unit that _finish_others counts each maximal entry as, so that a lone
           maximal entry comes out exactly 1 and two tied ones exactly 1/2 (exp_units(mx)
           is up to an ulp away) */
        __m512d table[4];
        fastact_exp_table_load(table);
        return _mm512_cvtsd_f64(fastact_exp_table8(
            _mm512_set1_pd(mx), table, _mm512_set1_epi64((long long)(offset - 1023))));
    }

    #if defined(_MSC_VER)
    #define FASTACT_ALWAYS_INLINE static __forceinline
    #else
    #define FASTACT_ALWAYS_INLINE static inline __attribute__((always_inline))
    #endif
    FASTACT_ALWAYS_INLINE void fastact_units_lanes(const double* x, double* out,
                                                   Py_ssize_t n, double lo, double mx,
                                                   unsigned long long offset, int wide,
                                                   int store, int clamp, double* s,
                                                   double* c, double* ties) {
        /* _near_sums' slice or chunk with the table exp (_math.pxd): entry e's term
           exp_units_term(x[e], lo, offset), stored to out[e] when `store`, and, 0 where
           x[e] is the max mx, added to lane e mod L of s + c (_term_add), in the order
           _add_terms adds them; L = 32 when `wide` (LANES), 8 otherwise (SHORT_LANES, a
           slice of SHORT_ROW to SHORT entries). The lanes stay in registers for the
           whole slice (the Cython loops keep them in memory, the terms in a buffer).
           out is only used when `store`; `clamp` as in fastact_units_group. *ties =
           how many entries equal mx, counted here rather than in the max pass
           (_near_sums). A NaN entry makes c NaN, which stays: Fast2Sum's max
           and min pass NaN on to t, and the adds keep it in c. */
        __m512d table[4];
        const __m512d vlo = _mm512_set1_pd(lo), vmx = _mm512_set1_pd(mx);
        /* exp_units' offset holds the bias 1023 that T_j's exponent field carries */
        const __m512i off = _mm512_set1_epi64((long long)(offset - 1023));
        /* one variable per register: an array indexed at run time lived on the stack,
           stored every iteration */
        __m512d s0 = _mm512_loadu_pd(s), c0 = _mm512_loadu_pd(c), s1, s2, s3, c1, c2, c3;
        Py_ssize_t i = 0, ntop = 0;
        fastact_exp_table_load(table);
        #define FASTACT_GROUP(g, S, C, K)                                            \
            fastact_two_sum8(&S, &C, fastact_units_group(x, out, i + 8 * g, K, K, table, \
                                                         off, vlo, vmx, store, clamp, &ntop))
        #define FASTACT_TAIL(g, S, C)                                                \
            if (i + 8 * g < n)                                                     \
                FASTACT_GROUP(g, S, C, n - i - 8 * g >= 8 ? (__mmask8)0xff         \
                              : (__mmask8)((1u << (n - i - 8 * g)) - 1))
        if (wide) {
            s1 = _mm512_loadu_pd(s + 8), s2 = _mm512_loadu_pd(s + 16),
            s3 = _mm512_loadu_pd(s + 24);
            c1 = _mm512_loadu_pd(c + 8), c2 = _mm512_loadu_pd(c + 16),
            c3 = _mm512_loadu_pd(c + 24);
            for (; i + 32 <= n; i += 32) {
                FASTACT_GROUP(0, s0, c0, 0xff);
                FASTACT_GROUP(1, s1, c1, 0xff);
                FASTACT_GROUP(2, s2, c2, 0xff);
                FASTACT_GROUP(3, s3, c3, 0xff);
            }
            /* the last n mod 32 entries, masked */
            FASTACT_TAIL(0, s0, c0);
            FASTACT_TAIL(1, s1, c1);
            FASTACT_TAIL(2, s2, c2);
            FASTACT_TAIL(3, s3, c3);
            _mm512_storeu_pd(s + 8, s1); _mm512_storeu_pd(s + 16, s2);
            _mm512_storeu_pd(s + 24, s3);
            _mm512_storeu_pd(c + 8, c1); _mm512_storeu_pd(c + 16, c2);
            _mm512_storeu_pd(c + 24, c3);
        } else {
            for (; i + 8 <= n; i += 8)
                FASTACT_GROUP(0, s0, c0, 0xff);
            FASTACT_TAIL(0, s0, c0);        /* the last n mod 8 entries, masked */
        }
        #undef FASTACT_TAIL
        #undef FASTACT_GROUP
        _mm512_storeu_pd(s, s0);
        _mm512_storeu_pd(c, c0);
        *ties = (double)ntop;
    }

    static void fastact_units_lane_sums8(const double* x, double* out, Py_ssize_t n,
                                         double lo, double mx, unsigned long long offset,
                                         int store, int clamp, double* s, double* c,
                                         double* ties) {
        if (store && clamp)
            fastact_units_lanes(x, out, n, lo, mx, offset, 0, 1, 1, s, c, ties);
        else if (store)
            fastact_units_lanes(x, out, n, lo, mx, offset, 0, 1, 0, s, c, ties);
        else if (clamp)
            fastact_units_lanes(x, out, n, lo, mx, offset, 0, 0, 1, s, c, ties);
        else
            fastact_units_lanes(x, out, n, lo, mx, offset, 0, 0, 0, s, c, ties);
    }

    /* fastact_units_lanes with constant wide, store and clamp: each loop compiled on its
       own, without a test inside. Two dispatchers, one per lane count: when one function
       held six such loops (this one's four and two since removed), rows of 1000 ran
       8-15 % slower. */
    static void fastact_units_lane_sums(const double* x, double* out, Py_ssize_t n,
                                        double lo, double mx, unsigned long long offset,
                                        int store, int clamp, double* s, double* c,
                                        double* ties) {
        if (store && clamp)
            fastact_units_lanes(x, out, n, lo, mx, offset, 1, 1, 1, s, c, ties);
        else if (store)
            fastact_units_lanes(x, out, n, lo, mx, offset, 1, 1, 0, s, c, ties);
        else if (clamp)
            fastact_units_lanes(x, out, n, lo, mx, offset, 1, 0, 1, s, c, ties);
        else
            fastact_units_lanes(x, out, n, lo, mx, offset, 1, 0, 0, s, c, ties);
    }
    static void fastact_cols_terms(const double* x, double* out, Py_ssize_t n,
                                   Py_ssize_t w, Py_ssize_t stride, const double* mx,
                                   const double* lo, const unsigned long long* offset,
                                   const unsigned char* special, int store, double* s,
                                   double* c) {
        /* _cols_terms with the table exp: row by row, 8 columns at a time, each column's
           term (fastact_units_group with that column's max, cutoff and offset) stored to
           out when `store`, and, 0 where it equals the column's max, added to its s + c
           (Fast2Sum, as fastact_two_sum8). The columns whose bit is set in special[j / 8]
           (+inf entries, or a max not within +-2000: NaN and all -inf columns too) are
           left for _cols_block to redo:
           their out entries keep what they held (x itself, in place), their s and c
           garbage. */
        __m512d table[4];
        Py_ssize_t i, j, ntop = 0;     /* the tie count: unused here (see _cols_block) */
        fastact_exp_table_load(table);
        for (i = 0; i < n; i++) {
            const double* row = x + i * stride;
            double* orow = out + i * stride;
            for (j = 0; j < w; j += 8) {
                __mmask8 k = w - j >= 8 ? (__mmask8)0xff : (__mmask8)((1u << (w - j)) - 1);
                __m512i off = _mm512_sub_epi64(_mm512_maskz_loadu_epi64(k, offset + j),
                                               _mm512_set1_epi64(1023));
                __m512d vs = _mm512_maskz_loadu_pd(k, s + j);
                __m512d vc = _mm512_maskz_loadu_pd(k, c + j);
                fastact_two_sum8(&vs, &vc, fastact_units_group(
                    row, orow, j, k, k & (__mmask8)~special[j / 8], table, off,
                    _mm512_maskz_loadu_pd(k, lo + j), _mm512_maskz_loadu_pd(k, mx + j),
                    store, 1, &ntop));
                _mm512_mask_storeu_pd(s + j, k, vs);
                _mm512_mask_storeu_pd(c + j, k, vc);
            }
        }
    }
    #else
    /* Not called: _near_sums and _cols_block test FASTACT_TABLE_EXP first. */
    #define fastact_cols_terms(x, out, n, w, stride, mx, lo, offset, special, store, s, c) \
        ((void)0)
    #define fastact_units_lane_sums(x, out, n, lo, mx, offset, store, clamp, s, c, ties) \
        ((void)(lo), (void)(clamp))
    #define fastact_units_lane_sums8(x, out, n, lo, mx, offset, store, clamp, s, c, ties) \
        ((void)(lo), (void)(clamp))
    #define fastact_units_unit(mx, offset) (0.0)
    #define fastact_slice_max(x, n, mn) (*(mn) = 0.0)
    #endif
    """
    void units_lane_sums "fastact_units_lane_sums"(
        const double* x, double* out, Py_ssize_t n, double lo, double mx,
        unsigned long long offset, bint store, bint clamp, double* s, double* c,
        double* ties) noexcept nogil
    void units_lane_sums8 "fastact_units_lane_sums8"(
        const double* x, double* out, Py_ssize_t n, double lo, double mx,
        unsigned long long offset, bint store, bint clamp, double* s, double* c,
        double* ties) noexcept nogil
    double units_unit "fastact_units_unit"(double mx, unsigned long long offset) noexcept nogil
    void cols_terms_table "fastact_cols_terms"(
        const double* x, double* out, Py_ssize_t n, Py_ssize_t w, Py_ssize_t stride,
        const double* mx, const double* lo, const unsigned long long* offset,
        const unsigned char* special, bint store, double* s, double* c) noexcept nogil
    double slice_max "fastact_slice_max"(const double* x, Py_ssize_t n,
                                         double* mn) noexcept nogil


cdef inline void _add_terms(const double* x, double* out, Py_ssize_t n, double m,
                            unsigned long long offset, bint near, bint store, double* s,
                            double* c, int L, Py_ssize_t* ties=NULL) noexcept nogil:
    # Entry e goes to lane e mod L. A slice near its max is taken in blocks of
    # TERM_BLOCK entries split into loops, as _exp_blocks does and for the same reason:
    # with vectors of 4 or fewer, three (the exp's reduction; its polynomial, scale and
    # the term, stored to out for softmax and, as the lanes take it, to a stack buffer;
    # then the sums); with AVX-512 (when built without the table exp), two for softmax
    # (the terms, then the sums) and one for log_softmax. The buffer, not x, tells the
    # sums which entries are maximal, since out may be x. Same bits;
    # tools/ab_kernels.py, rows of 1000 and 1e6: three loops against two (softmax) or
    # one (log_softmax) 1.08-1.16 on AVX2 and 1.18-1.27 on the baseline build; on
    # AVX-512 softmax's two against one 1.05-1.09 (log_softmax split: 0.83-1.04). With
    # vectors of 4 or fewer the slices of SHORT_ROW to SHORT entries (L = SHORT_LANES)
    # are split too: they took one loop, which measured 1.24-1.55x slower on AVX2 and
    # 2.3-4.2x on the baseline build (rows of 40-255). The rare far path (exp_shifted)
    # takes one loop, as do short slices with AVX-512 when built without the table exp
    # (with it, _near_sums takes them). With AVX-512 a slice near its max is one C
    # loop instead (fastact_units_lane_sums, through _near_sums: the table exp, the
    # lanes in registers; same lanes and order): tools/ab_kernels.py against these loops
    # softmax 1.15-1.23, log_softmax 1.05-1.08, rows of 1000 and 1e6. The column
    # kernels sum each column in one accumulator (and below 32 rows keep the
    # polynomial), so a slice along another axis may differ from the same values along
    # the last one in the last bit. With `ties` (only in the
    # three-loop form), *ties = how many entries equal m, counted in the reduction loop
    # (x is read there before any term is stored: out may be x).
    cdef double lo = m + _TERM_MIN      # exp_units' domain; the terms below it are 0
    cdef double v[TERM_BLOCK]
    cdef double r[TERM_BLOCK]
    cdef unsigned long long kb[TERM_BLOCK]
    cdef double t
    cdef Py_ssize_t i = 0, b, j, k, nt = 0
    cdef int loops = 1
    if near and (L == LANES or not _WIDE_VECTORS):
        if store:
            loops = 2 if _WIDE_VECTORS else 3
        else:
            loops = 1 if _WIDE_VECTORS else 3
    if loops == 1:
        for b in range(n // L):
            for j in range(L):
                t = _term(x, out, b * L + j, m, lo, offset, near, store)
                _term_add(&s[j], &c[j], t)
        for j in range(n % L):      # the last n % L terms each to their own lane: no chain
            t = _term(x, out, n - n % L + j, m, lo, offset, near, store)
            _term_add(&s[j], &c[j], t)
        return
    while i < n:
        k = n - i if n - i < TERM_BLOCK else TERM_BLOCK
        if loops == 2:
            for j in range(k):
                v[j] = _term(x, out, i + j, m, lo, offset, near, store)
        else:
            if ties != NULL:
                for j in range(k):
                    r[j] = exp_units_reduce(x[i + j], lo, &kb[j])
                    nt += x[i + j] == m
            else:
                for j in range(k):
                    r[j] = exp_units_reduce(x[i + j], lo, &kb[j])
            for j in range(k):
                t = exp_units_finish(x[i + j], lo, r[j], kb[j], offset)
                v[j] = _lane_value(x, out, i + j, m, t, store)
        for b in range(k // L):
            for j in range(L):
                _term_add(&s[j], &c[j], v[b * L + j])
        for j in range(k % L):
            _term_add(&s[j], &c[j], v[k - k % L + j])
        i += k
    if ties != NULL:
        ties[0] = nt


cdef inline void _lane_sums(const double* x, double* out, Py_ssize_t n, double m,
                            bint store, double* st, int L) noexcept nogil:
    # The terms of _sum_others over one slice (or one chunk of a long row), reduced to
    # st = [hi, lo]: the double-double sum of the terms below the max m.
    cdef double s[LANES]
    cdef double c[LANES]
    cdef bint near = _near(m)
    cdef unsigned long long offset = exp_units_offset(m)
    cdef Py_ssize_t j
    for j in range(L):
        s[j] = 0.0
        c[j] = 0.0
    if near:
        if store:
            _add_terms(x, out, n, m, offset, True, True, s, c, L)
        else:
            _add_terms(x, out, n, m, offset, True, False, s, c, L)
    else:
        if store:
            _add_terms(x, out, n, m, offset, False, True, s, c, L)
        else:
            _add_terms(x, out, n, m, offset, False, False, s, c, L)
    st[0] = _combine(s, c, &st[1], L)


cdef inline double _finish_others(double rest, double ties, double m, bint lanes,
                                  double* total) noexcept nogil:
    # T and the divisor from the non-max terms' sum `rest` and the count of maximal
    # entries, each worth one unit u (see _sum_others): the term a maximal entry got,
    # from the table exp where the slice's terms came from its C loops
    # (fastact_units_lane_sums, fastact_units_lane_sums8, through _near_sums;
    # `lanes`: near its max, AVX-512).
    cdef double unit = _TWO_P128
    cdef unsigned long long offset
    if _near(m):
        offset = exp_units_offset(m)
        unit = units_unit(m, offset) if _TABLE_EXP and lanes else exp_units(m, offset)
    total[0] = ties * unit + rest
    return rest / unit + (ties - 1.0)


cdef inline double _sum_others(const double* x, double* out, Py_ssize_t n, double m,
                               double ties, bint store, double* total) noexcept nogil:
    # Returns T = sum over all entries but one maximal one of e^(x_i - m), so that the
    # slice's sum is 1 + T with T kept apart: log1p(T) and 1 - s_max = T / (1 + T) stay
    # accurate. The terms (written to out when `store`) are in units u = e^(m - K ln2)
    # 2^128: exp_units(x_i) = u e^(x_i - m), exact reduction from x_i, for |m| <= 2000;
    # beyond, exp_shifted gives e^(x_i - m) 2^128 (u = 2^128). The 2^128 keeps the terms
    # normal numbers (see exp_units). *total is their sum, the softmax divisor.
    # Maximal entries are counted apart (`ties`, from the max pass; each is u), the
    # others summed with TwoSum compensation from 0, so that T keeps its relative
    # accuracy even when every term is far below 1 (one dominant entry: log_softmax of
    # it is -T).
    cdef double st[2]
    if n < SHORT:
        _lane_sums(x, out, n, m, store, st, SHORT_LANES)
    else:
        _lane_sums(x, out, n, m, store, st, LANES)
    return _finish_others(st[0], ties, m, n >= SHORT, total)


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


cdef inline void _scale_terms(double* out, Py_ssize_t n, double total) noexcept nogil:
    # The softmax scale pass: terms / their sum.
    cdef double inv = 1.0 / total
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = div_by(out[i], total, inv)


cdef inline double _log_entry(double x, double hi, double lo) noexcept nogil:
    # log_softmax of x = x - (m + log(1 + T)), given m + lse = hi + lo exactly (_dd_hi):
    # x - hi is exact where it cancels (Sterbenz), so the max entry comes out as -lse
    # rounded once, and lse = log1p(T) keeps it accurate when T is tiny. The + 0.0 turns
    # the -0.0 of a sole -0.0 max (x - hi = -0 - +0) into log 1 = +0.
    return ((x - hi) - lo) + 0.0


cdef inline void _log_terms(const double* x, double* out, Py_ssize_t n, double m,
                            double lse) noexcept nogil:
    cdef double lo
    cdef double hi = _dd_hi(m, lse, &lo)
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = _log_entry(x[i], hi, lo)


# ---------------------------------------------------------------- softmax of one slice


cdef extern from *:
    """
    /* Whether _near_slice takes the Cython loops' slices too (AVX2 without AVX-512):
       a max pass that keeps only the max, the maximal entries counted in the exp's
       reduction loop. The baseline build measured 0.97-0.98 that way (2-wide vectors,
       where the count costs more than it saves); the AVX-512 build without the table
       exp keeps _slice_max_lanes as well (its loops differ). */
    #if defined(__AVX2__) && !defined(__AVX512F__)
    #define FASTACT_COUNT_IN_SUM 1
    #else
    #define FASTACT_COUNT_IN_SUM 0
    #endif
    /* Whether the softmax family's max pass keeps only the max (_near_slice). */
    #define FASTACT_LIGHT_MAX (FASTACT_TABLE_EXP || FASTACT_COUNT_IN_SUM)
    #if FASTACT_COUNT_IN_SUM
    #include <immintrin.h>
    static inline double fastact_slice_max4(const double* x, Py_ssize_t n) {
        /* The max of x[0:n] ignoring NaN, -inf if none, in intrinsics: the same loop
           in Cython (lanes in an array) compiled to scalar maxsd, GCC keeping the 16
           lanes in registers. max_pd returns its second operand where either is NaN. */
        const __m256d ninf = _mm256_set1_pd(-INFINITY);
        __m256d a0 = ninf, a1 = ninf, a2 = ninf, a3 = ninf;
        double top[4], m;
        Py_ssize_t i = 0;
        for (; i + 16 <= n; i += 16) {
            a0 = _mm256_max_pd(_mm256_loadu_pd(x + i), a0);
            a1 = _mm256_max_pd(_mm256_loadu_pd(x + i + 4), a1);
            a2 = _mm256_max_pd(_mm256_loadu_pd(x + i + 8), a2);
            a3 = _mm256_max_pd(_mm256_loadu_pd(x + i + 12), a3);
        }
        for (; i + 4 <= n; i += 4)
            a0 = _mm256_max_pd(_mm256_loadu_pd(x + i), a0);
        _mm256_storeu_pd(top, _mm256_max_pd(_mm256_max_pd(a0, a1), _mm256_max_pd(a2, a3)));
        m = top[0];
        for (int j = 1; j < 4; j++)
            m = top[j] > m ? top[j] : m;
        for (; i < n; i++)
            m = x[i] > m ? x[i] : m;
        return m;
    }
    #else
    #define fastact_slice_max4(x, n) (0.0)
    #endif
    """
    const bint _COUNT_IN_SUM "FASTACT_COUNT_IN_SUM"
    const bint _LIGHT_MAX "FASTACT_LIGHT_MAX"
    double slice_max4 "fastact_slice_max4"(const double* x, Py_ssize_t n) noexcept nogil


cdef inline double _near_sums(const double* x, double* out, Py_ssize_t n, double mx,
                              bint store, bint clamp, int L, double* low,
                              double* ties) noexcept nogil:
    # The terms of a slice (or a long row's chunk) near the max mx of a light max pass
    # (_near_slice, _long_near): stored to out when `store`, their lane sums returned as
    # hi (and *low), *ties = how many entries equal mx. `clamp` False: no entry lies
    # below the cutoff mx + _TERM_MIN (the AVX-512 loop then leaves out the clamp).
    cdef double s[LANES]
    cdef double c[LANES]
    cdef double lo = mx + _TERM_MIN
    cdef int j
    cdef Py_ssize_t nt
    cdef unsigned long long offset = exp_units_offset(mx)
    for j in range(L):
        s[j] = 0.0
        c[j] = 0.0
    if _TABLE_EXP:
        if L == LANES:
            units_lane_sums(x, out, n, lo, mx, offset, store, clamp, s, c, ties)
        else:
            units_lane_sums8(x, out, n, lo, mx, offset, store, clamp, s, c, ties)
    else:
        if store:
            _add_terms(x, out, n, mx, offset, True, True, s, c, L, &nt)
        else:
            _add_terms(x, out, n, mx, offset, True, False, s, c, L, &nt)
        ties[0] = nt
    return _combine(s, c, low, L)


cdef inline bint _near_slice(const double* x, double* out, Py_ssize_t n, bint store,
                             SliceKind* kind, double* m, double* ties, double* others,
                             double* total) noexcept nogil:
    # With the table exp (AVX-512) or AVX2, a slice of SHORT_ROW to LONG_ROW entries
    # (longer rows: _long_near, in chunks) whose max is within +-2000 (nearly every
    # one); _near_sums takes its terms. Its max pass takes only the max and
    # the min (fastact_slice_max: a max_pd and a min_pd per 8 entries, where
    # _slice_max_lanes also counts the maximal entries and sums the entries to spot a
    # NaN or an infinity); the C loop of terms and lane sums counts the maximal entries
    # instead (one popcount per 8, on the integer units), and a NaN entry makes the sum
    # NaN. Where no entry lies below the cutoff m + _TERM_MIN (no -inf either), the
    # usual case, the loop also leaves out the exp's clamp and the cutoff's select. Same
    # results, NaN for a slice with a NaN. tools/ab_kernels.py, rows of 256-1000 and a
    # slice of 20000, against _slice_max_lanes: softmax and log_softmax 1.03-1.11 (1.20
    # on rows of 256); then without the clamp: softmax 1.01-1.05, log_softmax 1.01-1.09.
    # With AVX2 (_COUNT_IN_SUM) the same around the Cython loops: the max pass keeps
    # only the max (fastact_slice_max4), _add_terms counts the maximal entries in its
    # reduction loop, a NaN makes the lane sums NaN; the clamp stays.
    # tools/ab_kernels.py against _slice_max_lanes: softmax and log_softmax 1.28-1.32 on
    # rows of 300, 1.10-1.12 on rows of 1000, 1.05-1.07 on rows of 5000. Slices below
    # SHORT take 8 lanes (fastact_units_lane_sums8 with the table exp): one C loop where
    # the Cython one took one loop per element, tools/ab_kernels.py 2.2-3.6 on rows of
    # 40-255 (AVX2's split loops 2.5-3.2 with the lighter max pass). Returns False,
    # having written nothing, for any other slice (an infinite or far max, every entry
    # NaN or -inf), which takes the general path. The callers test the variant and the
    # length first (inside, the test measured 0.90-0.96 on AVX2: the inlining changed).
    cdef double hi, low, mn = -INFINITY, mx
    if _TABLE_EXP:
        mx = slice_max(x, n, &mn)
    else:
        mx = slice_max4(x, n)
    if not _near(mx):
        return False
    hi = _near_sums(x, out, n, mx, store, not mn >= mx + _TERM_MIN,
                    LANES if n >= SHORT else SHORT_LANES, &low, ties)
    return _near_done(hi, mx, ties[0], kind, m, others, total)


cdef inline bint _near_done(double rest, double mx, double ties, SliceKind* kind,
                            double* m, double* others, double* total) noexcept nogil:
    # The end of _near_slice and _long_near: the max, T and the divisor from the sum of
    # the non-max terms and the count of maximal entries, and the kind (a NaN entry
    # left the sum NaN). Returns True.
    m[0] = mx
    others[0] = _finish_others(rest, ties, mx, True, total)
    kind[0] = ALL_NAN if total[0] != total[0] else FINITE_MAX
    return True


# ---------------------------------------------------------------- long rows
#
# A row of more than LONG_ROW entries (_table.pxd) is cut into chunks of LONG_ROW, the
# last one shorter, which kernels.pyx shares out among threads when a batch has fewer
# rows than threads: a max per chunk (chunk_max), the chunk maxima folded (long_kind),
# each chunk's lane sums (chunk_sum), those folded in chunk order as double-doubles
# (long_others), then each chunk's scale pass (chunk_scale). The chunks depend on n
# alone, and the serial path below computes the same terms, sums and folds (with the
# light max pass it decides the clamp once per row, chunk_sum once per chunk: the same
# terms either way), so a long row gives the same bits on any number of threads. With
# the light max pass (_LIGHT_MAX) these steps are
# _near_slice's: the max pass keeps the max and min, chunk_sum counts the maximal
# entries and finds a NaN, and a row whose max is not within +-2000 goes to the serial
# path (_long_max and _long_sum_others, the full max pass). tools/ab_kernels.py against
# the full max pass for every row, softmax and log_softmax, same bits: AVX-512
# 1.08-1.16 on 1-D rows of 4e4 and 1e5, 1.01-1.18 on 1e6 (memory-bound); AVX2
# 1.03-1.11.


cdef inline void _chunk_max_lanes(const double* x, Py_ssize_t n,
                                  double* st) noexcept nogil:
    # st = [max ignoring NaN, has NaN, how many entries equal the max] of one chunk.
    cdef double m, ties
    cdef Py_ssize_t i
    cdef SliceKind kind = _slice_max_lanes(x, n, &m, &ties, MAX_LANES)
    st[0] = m
    st[1] = 0.0
    st[2] = ties
    if kind == ALL_NAN:         # a NaN, or every entry -inf: tell the two apart
        for i in range(n):
            if x[i] != x[i]:
                st[1] = 1.0
                break


cdef void chunk_max(const double* x,  # IN, one chunk
                    Py_ssize_t n,
                    double* st) noexcept nogil:  # OUT, for long_kind and chunk_sum
    # With the light max pass (_LIGHT_MAX, as _near_slice): st = [max ignoring NaN, min
    # ignoring NaN (AVX-512; -inf on AVX2, where the clamp stays), 0]; chunk_sum counts
    # the maximal entries and a NaN entry shows in the sums. Otherwise _chunk_max_lanes.
    cdef double mn = -INFINITY
    if _LIGHT_MAX:
        st[0] = slice_max(x, n, &mn) if _TABLE_EXP else slice_max4(x, n)
        st[1] = mn
        st[2] = 0.0
    else:
        _chunk_max_lanes(x, n, st)


cdef inline void _fold_max_chunk(double* acc, const double* st) noexcept nogil:
    # acc = [max, has NaN, count of entries equal to the max] folded with a chunk's.
    acc[2] = st[2] if st[0] > acc[0] else (acc[2] + st[2] if st[0] == acc[0] else acc[2])
    acc[0] = st[0] if st[0] > acc[0] else acc[0]
    acc[1] = st[1] if st[1] > acc[1] else acc[1]


cdef inline SliceKind _max_kind(const double* acc) noexcept nogil:
    if acc[1] != 0.0 or acc[0] == -INFINITY:
        return ALL_NAN
    return HAS_POS_INF if acc[0] == INFINITY else FINITE_MAX


cdef inline void _max_init(double* acc) noexcept nogil:
    acc[0] = -INFINITY
    acc[1] = 0.0
    acc[2] = 0.0


cdef int long_kind(const double* st,  # IN, chunk_max of each chunk, at stride 3
                   Py_ssize_t chunks,
                   double* m) noexcept nogil:  # OUT, the row's max
    # 0 where chunk_sum and long_others take the row: a finite max (with the light max
    # pass, within +-2000, which also leaves out a row of NaN and -inf); the serial path
    # (softmax, log_softmax) takes any other.
    cdef double acc[3]
    cdef Py_ssize_t c
    _max_init(acc)
    if _LIGHT_MAX:
        for c in range(chunks):
            acc[0] = st[3 * c] if st[3 * c] > acc[0] else acc[0]
        m[0] = acc[0]
        return 0 if _near(acc[0]) else 1
    for c in range(chunks):
        _fold_max_chunk(acc, st + 3 * c)
    m[0] = acc[0]
    return _max_kind(acc)


cdef void chunk_sum(const double* x,  # IN, one chunk
                    double* out,      # OUT, its terms (when store)
                    Py_ssize_t n, double m, bint store,
                    double* st) noexcept nogil:   # IN its chunk_max / OUT [hi, lo, ties]
    # The chunk's lane sums of the terms below the row's max m, and how many of its
    # entries equal m: counted here with the light max pass (which leaves out the clamp
    # where the chunk's min is above the cutoff), from chunk_max's count otherwise.
    cdef double ties = 0.0
    cdef bint clamp
    if _LIGHT_MAX:
        clamp = not st[1] >= m + _TERM_MIN
        st[0] = _near_sums(x, out, n, m, store, clamp, LANES, &st[1], &ties)
    else:
        ties = st[2] if st[0] == m else 0.0
        _lane_sums(x, out, n, m, store, st, LANES)
    st[2] = ties


cdef inline void _fold_sum_chunk(double* acc, const double* st) noexcept nogil:
    # acc += a chunk's [hi, lo, ties]: the sums as double-doubles, the counts exactly.
    cdef double t = acc[0] + st[0]
    acc[1] += two_sum_err(acc[0], st[0], t) + st[1]
    acc[0] = t
    acc[2] += st[2]


cdef double long_others(const double* st,  # IN, chunk_sum of each chunk, at stride 3
                        Py_ssize_t chunks, double m,
                        double* total) noexcept nogil:  # OUT, the softmax divisor
    # T, as _sum_others returns it, for the whole row; NaN where an entry is NaN (found
    # by the sums with the light max pass).
    cdef double acc[3]
    cdef Py_ssize_t c
    acc[0] = 0.0
    acc[1] = 0.0
    acc[2] = 0.0
    for c in range(chunks):
        _fold_sum_chunk(acc, st + 3 * c)
    return _finish_others(acc[0] + acc[1], acc[2], m, True, total)   # chunks: 32 lanes


cdef void chunk_scale(const double* x,  # IN, one chunk
                      double* out,      # IN terms (softmax) / OUT
                      Py_ssize_t n, double m, double norm, bint log) noexcept nogil:
    # norm: the divisor (softmax) or log1p(T) (log_softmax).
    if log:
        _log_terms(x, out, n, m, norm)
    else:
        _scale_terms(out, n, norm)


cdef inline bint _long_near(const double* x, double* out, Py_ssize_t n, bint store,
                            SliceKind* kind, double* m, double* ties, double* others,
                            double* total) noexcept nogil:
    # _near_slice of a long row, in the steps that threads share (chunk_max, long_kind,
    # chunk_sum, long_others; the same bits): False, having written nothing, where the
    # max is not within +-2000. The clamp is left out for the whole row where no entry
    # lies below the cutoff (chunk_sum decides per chunk: the same terms either way).
    cdef double st[3]
    cdef double acc[3]
    cdef double mx = -INFINITY, mn = INFINITY
    cdef bint clamp
    cdef Py_ssize_t c0 = 0
    while c0 < n:
        chunk_max(x + c0, min(<Py_ssize_t>LONG_ROW, n - c0), st)
        mx = st[0] if st[0] > mx else mx
        mn = st[1] if st[1] < mn else mn
        c0 += LONG_ROW
    if not _near(mx):
        return False
    clamp = not mn >= mx + _TERM_MIN
    acc[0] = 0.0
    acc[1] = 0.0
    acc[2] = 0.0
    c0 = 0
    while c0 < n:
        st[0] = _near_sums(x + c0, out + c0 if store else NULL,
                           min(<Py_ssize_t>LONG_ROW, n - c0), mx, store, clamp, LANES,
                           &st[1], &st[2])
        _fold_sum_chunk(acc, st)
        c0 += LONG_ROW
    ties[0] = acc[2]
    return _near_done(acc[0] + acc[1], mx, acc[2], kind, m, others, total)


cdef inline SliceKind _long_max(const double* x, Py_ssize_t n, double* m,
                                double* ties) noexcept nogil:
    # _slice_max of a long row, chunk by chunk (_chunk_max_lanes, as chunk_max without
    # the light max pass).
    cdef double st[3]
    cdef double acc[3]
    cdef Py_ssize_t c0 = 0
    _max_init(acc)
    while c0 < n:
        _chunk_max_lanes(x + c0, min(<Py_ssize_t>LONG_ROW, n - c0), st)
        _fold_max_chunk(acc, st)
        c0 += LONG_ROW
    m[0] = acc[0]
    ties[0] = acc[2]
    return _max_kind(acc)


cdef inline double _long_sum_others(const double* x, double* out, Py_ssize_t n, double m,
                                    double ties, bint store, double* total) noexcept nogil:
    # _sum_others of a long row, chunk by chunk (as chunk_sum without the light max pass).
    cdef double st[3]
    cdef double acc[3]
    cdef Py_ssize_t c0 = 0
    acc[0] = 0.0
    acc[1] = 0.0
    acc[2] = 0.0        # counts no ties (given): st[2] stays 0
    st[2] = 0.0
    while c0 < n:
        _lane_sums(x + c0, out + c0 if store else NULL, min(<Py_ssize_t>LONG_ROW, n - c0),
                   m, store, st, LANES)
        _fold_sum_chunk(acc, st)
        c0 += LONG_ROW
    return _finish_others(acc[0] + acc[1], ties, m, True, total)     # chunks: 32 lanes


cdef inline SliceKind _softmax_into(const double* x, double* out, Py_ssize_t n,
                                    double* m, double* ties, double* others) noexcept nogil:
    # softmax of a non-empty slice; returns the kind and, for FINITE_MAX, the max, how
    # many entries equal it and the sum of the non-max terms (`others`).
    cdef double total
    cdef bint long_row = n > LONG_ROW
    cdef SliceKind kind
    if (_LIGHT_MAX and n >= SHORT_ROW
            and (_long_near(x, out, n, True, &kind, m, ties, others, &total) if long_row
                 else _near_slice(x, out, n, True, &kind, m, ties, others, &total))):
        if kind == ALL_NAN:
            _fill(out, n, NAN)
        else:
            _scale_terms(out, n, total)
        return kind
    kind = _long_max(x, n, m, ties) if long_row else _slice_max(x, n, m, ties)
    if kind == ALL_NAN:
        _fill(out, n, NAN)
    elif kind == HAS_POS_INF:
        _split_inf(x, out, n, 1.0 / _count_inf(x, n), 0.0)
    else:
        if long_row:
            others[0] = _long_sum_others(x, out, n, m[0], ties[0], True, &total)
        else:
            others[0] = _sum_others(x, out, n, m[0], ties[0], True, &total)
        _scale_terms(out, n, total)
    return kind


cdef void softmax(const double* x,  # IN
                  double* out,      # OUT
                  Py_ssize_t n) noexcept nogil:
    cdef double m, ties, others
    if n > 0:
        _softmax_into(x, out, n, &m, &ties, &others)


cdef void log_softmax(const double* x,  # IN
                      double* out,      # OUT
                      Py_ssize_t n) noexcept nogil:
    cdef double m, total, others, ties
    cdef bint long_row = n > LONG_ROW
    cdef SliceKind kind
    if n == 0:
        return
    if (_LIGHT_MAX and n >= SHORT_ROW
            and (_long_near(x, NULL, n, False, &kind, &m, &ties, &others, &total)
                 if long_row
                 else _near_slice(x, NULL, n, False, &kind, &m, &ties, &others, &total))):
        if kind == ALL_NAN:
            _fill(out, n, NAN)
        else:
            _log_terms(x, out, n, m, log1p(others))
        return
    kind = _long_max(x, n, &m, &ties) if long_row else _slice_max(x, n, &m, &ties)
    if kind == ALL_NAN:
        _fill(out, n, NAN)
    elif kind == HAS_POS_INF:
        # 0.0 - ...: a sole +inf entry gets log 1 = +0, not -0 (as the other paths give)
        _split_inf(x, out, n, 0.0 - log1p(<double>(_count_inf(x, n) - 1)), -INFINITY)
    else:
        if long_row:
            others = _long_sum_others(x, NULL, n, m, ties, False, &total)
        else:
            others = _sum_others(x, NULL, n, m, ties, False, &total)
        _log_terms(x, out, n, m, log1p(others))


# ---------------------------------------------------------------- softmax over columns
#
# Softmax over a non-last axis of a C-contiguous array, without transposing it: an n x w
# block whose rows are `stride` apart is normalised column by column, the passes running
# along rows so that the inner loops (over up to COLS columns) vectorize. Special columns
# are mapped onto the ordinary path: a NaN (or an all -inf column) gives max NaN, hence
# NaN everywhere; a column holding +inf is read as 0 where +inf and -inf elsewhere, which
# shares the mass equally among its +inf entries.

cdef enum:
    COLS = 256
    COL_GROUPS = 32     # COLS / 8: the AVX-512 column loop's groups
    SHORT_ROW = 32      # rows shorter than this go through _short_rows


cdef inline void _cols_terms(const double* x, double* out, Py_ssize_t n, Py_ssize_t w,
                             Py_ssize_t stride, const double* mx, const double* pinf,
                             const double* lo, const unsigned long long* offset,
                             const double* far, bint log, double* s,
                             double* c) noexcept nogil:
    # The exp pass of _cols_block, column by column as _term and _lane_add do along a
    # slice, with exp_units for every column; columns marked `far` are redone by
    # _col_far, and their out entries are left holding x meanwhile (x itself, when
    # computing in place).
    cdef Py_ssize_t i, j
    cdef const double* row
    cdef double* orow
    cdef double v, e
    for i in range(n):
        row = x + i * stride
        orow = out + i * stride
        for j in range(w):
            v = row[j]
            v = (0.0 if v == INFINITY else -INFINITY) if pinf[j] != 0.0 else v
            e = exp_units_term(v, lo[j], offset[j])
            if not log:
                orow[j] = row[j] if far[j] != 0.0 else e
            _lane_add(&s[j], &c[j], 0.0 if v == mx[j] else e)


cdef inline void _col_far(const double* x, double* out, Py_ssize_t n, Py_ssize_t stride,
                          double m, bint log, double* s, double* c) noexcept nogil:
    # One column whose max is NaN, -inf or beyond +-2000: its exp pass redone as
    # _sum_others does such a slice (exp_shifted; a NaN gives NaN everywhere, as does -inf).
    cdef Py_ssize_t i
    s[0] = 0.0
    c[0] = 0.0
    for i in range(n):
        _lane_add(s, c, _term(x, out, i * stride, m, 0.0, 0, False, not log))


cdef inline void _cols_block(const double* x, double* out, Py_ssize_t n, Py_ssize_t w,
                             Py_ssize_t stride, bint log) noexcept nogil:
    cdef double mx[COLS]
    cdef double odd[COLS]
    cdef double pinf[COLS]
    cdef double s[COLS]
    cdef double c[COLS]
    cdef double ties[COLS]
    cdef double lo[COLS]
    cdef double unit[COLS]
    cdef unsigned long long offset[COLS]
    cdef double far[COLS]
    cdef Py_ssize_t i, j
    cdef const double* row
    cdef double* orow
    cdef double v, t
    cdef unsigned char special[COL_GROUPS]
    for j in range(w):
        mx[j] = -INFINITY
        ties[j] = 0.0
        odd[j] = 0.0
        pinf[j] = 0.0
    for i in range(n):
        row = x + i * stride
        for j in range(w):
            v = row[j]
            _max_count(&mx[j], &ties[j], v)         # +inf entries counted too
            odd[j] += v - v
    for j in range(w):
        if odd[j] != odd[j]:            # a NaN or an infinity in this column: look closer
            for i in range(n):
                if x[i * stride + j] != x[i * stride + j]:
                    mx[j] = NAN
                    break
            if mx[j] == INFINITY:
                pinf[j] = 1.0
                mx[j] = 0.0
    for j in range(w):
        # Each column on its own: exp_units where its max is within +-2000 (as in
        # _sum_others; false for NaN), so a column's result never depends on its block.
        far[j] = 0.0 if _near(mx[j]) else 1.0
        s[j] = 0.0
        c[j] = 0.0
        lo[j] = mx[j] + _TERM_MIN
        offset[j] = exp_units_offset(mx[j])
        unit[j] = exp_units(mx[j], offset[j]) if far[j] == 0.0 else _TWO_P128
    if _TABLE_EXP and n >= SHORT_ROW:
        # The table exp's C loop (AVX-512), for columns of SHORT_ROW entries or more
        # (shorter ones, _short_rows' transposed rows of 4096 x 10, measured 0.88-0.93
        # that way: the per-column set-up outweighs the shorter exp). A column holding
        # +inf is redone by _cols_terms on its own, a far one (NaN and all -inf too) by
        # _col_far below, so every column's bits depend on its entries alone. Its
        # ordinary columns take their unit again (once, in either loop, measured
        # 0.84-0.92 on those short rows).
        for j in range(0, w, 8):
            special[j // 8] = 0
        for j in range(w):
            if far[j] != 0.0 or pinf[j] != 0.0:
                special[j // 8] |= 1 << (j % 8)
            else:       # the term a maximal entry gets in the C loop (see _finish_others)
                unit[j] = units_unit(mx[j], offset[j])
        cols_terms_table(x, out, n, w, stride, mx, lo, offset, special, not log, s, c)
        for j in range(w):
            if pinf[j] != 0.0:     # its max read as 0: never far
                s[j] = 0.0
                c[j] = 0.0
                _cols_terms(x + j, out + j, n, 1, stride, &mx[j], &pinf[j], &lo[j],
                            &offset[j], &far[j], log, &s[j], &c[j])
    else:
        _cols_terms(x, out, n, w, stride, mx, pinf, lo, offset, far, log, s, c)
    for j in range(w):
        if far[j] != 0.0:
            _col_far(x + j, out + j, n, stride, mx[j], log, &s[j], &c[j])
    for j in range(w):
        # T and the divisor as in _sum_others; then the normaliser log1p(T) or the sum.
        t = s[j] + c[j]
        if log:                         # m + log1p(T) as hi + lo, as _log_terms uses it
            s[j] = _dd_hi(mx[j], vlog1p(t / unit[j] + (ties[j] - 1.0)), &c[j])
        else:
            s[j] = ties[j] * unit[j] + t
            c[j] = 1.0 / s[j]           # for div_by
    for i in range(n):
        row = x + i * stride
        orow = out + i * stride
        for j in range(w):
            if log:
                v = row[j]
                v = (0.0 if v == INFINITY else -INFINITY) if pinf[j] != 0.0 else v
                orow[j] = _log_entry(v, s[j], c[j])
            else:
                orow[j] = div_by(orow[j], s[j], c[j])


cdef enum:
    ROW_BLOCK = 64      # rows per block in _short_rows


cdef inline void _short_rows(const double* x, double* out, Py_ssize_t rows, Py_ssize_t n,
                             bint log) noexcept nogil:
    # Rows of n < SHORT_ROW entries (a classifier's classes): one at a time they would be
    # all overhead and latency (a max, a sum and a normaliser for a handful of terms), so
    # ROW_BLOCK rows are transposed into a buffer and normalised together by the column
    # kernel, vectorized across rows. Each row's result depends on that row alone.
    cdef double buf[SHORT_ROW * ROW_BLOCK]
    cdef Py_ssize_t r0 = 0, r, i, w
    while r0 < rows:
        w = min(<Py_ssize_t>ROW_BLOCK, rows - r0)
        for r in range(w):
            for i in range(n):
                buf[i * w + r] = x[(r0 + r) * n + i]
        _cols_block(buf, buf, n, w, w, log)
        for r in range(w):
            for i in range(n):
                out[(r0 + r) * n + i] = buf[i * w + r]
        r0 += w


cdef void softmax_rows(const double* x,  # IN, rows * n
                       double* out,      # OUT, rows * n
                       Py_ssize_t rows, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t r
    if n < SHORT_ROW:
        _short_rows(x, out, rows, n, False)
    else:
        for r in range(rows):
            softmax(x + r * n, out + r * n, n)


cdef void log_softmax_rows(const double* x,  # IN, rows * n
                           double* out,      # OUT, rows * n
                           Py_ssize_t rows, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t r
    if n < SHORT_ROW:
        _short_rows(x, out, rows, n, True)
    else:
        for r in range(rows):
            log_softmax(x + r * n, out + r * n, n)


cdef void softmax_slice(const double* x,  # IN
                        double* out,      # OUT
                        Py_ssize_t n) noexcept nogil:
    # The table's single-slice kernels: a short slice as in a batch (_short_rows), so
    # that a row gives the same result alone or among others.
    if n < SHORT_ROW:
        _short_rows(x, out, 1, n, False)
    else:
        softmax(x, out, n)


cdef void log_softmax_slice(const double* x,  # IN
                            double* out,      # OUT
                            Py_ssize_t n) noexcept nogil:
    if n < SHORT_ROW:
        _short_rows(x, out, 1, n, True)
    else:
        log_softmax(x, out, n)


cdef void softmax_cols(const double* x,  # IN
                       double* out,      # OUT
                       Py_ssize_t n, Py_ssize_t w, Py_ssize_t stride) noexcept nogil:
    cdef Py_ssize_t j0 = 0
    while j0 < w:
        _cols_block(x + j0, out + j0, n, min(<Py_ssize_t>COLS, w - j0), stride, False)
        j0 += COLS


cdef void log_softmax_cols(const double* x,  # IN
                           double* out,      # OUT
                           Py_ssize_t n, Py_ssize_t w, Py_ssize_t stride) noexcept nogil:
    cdef Py_ssize_t j0 = 0
    while j0 < w:
        _cols_block(x + j0, out + j0, n, min(<Py_ssize_t>COLS, w - j0), stride, True)
        j0 += COLS


cdef void softmax_jacobian(const double* x,  # IN
                           double* out,      # OUT, n * n
                           Py_ssize_t n) noexcept nogil:
    # s is computed into the last row and read from there; that row is rewritten last,
    # each entry read before it is overwritten.
    cdef double m = 0.0, ties = 0.0, others = 0.0, si, one_minus_max
    cdef Py_ssize_t i, j
    cdef double* s
    cdef bint sole
    if n == 0:
        return
    s = out + (n - 1) * n
    # sole: one entry holds the max. 1 - s_i for it is T / (1 + T), free of cancellation
    # when s_i ~ 1 (a tie gives s_i <= 1/2, where 1 - s_i is exact anyway).
    sole = _softmax_into(x, s, n, &m, &ties, &others) == FINITE_MAX and ties == 1.0
    one_minus_max = others / (1.0 + others)
    for i in range(n - 1):
        si = s[i]
        for j in range(n):
            out[i * n + j] = -si * s[j]
        out[i * n + i] = si * (one_minus_max if sole and x[i] == m else 1.0 - si)
    si = s[n - 1]
    for j in range(n - 1):
        s[j] = -si * s[j]
    s[n - 1] = si * (one_minus_max if sole and x[n - 1] == m else 1.0 - si)


cdef inline double _dot_lanes(const double* a, const double* b, Py_ssize_t n, double* low,
                              int L) noexcept nogil:
    cdef double s[LANES]
    cdef double c[LANES]
    cdef double p
    cdef Py_ssize_t k, j, i
    for j in range(L):
        s[j] = 0.0
        c[j] = 0.0
    for k in range(n // L):
        for j in range(L):
            i = k * L + j
            p = a[i] * b[i]
            c[j] += two_prod_err(a[i], b[i], p)
            _lane_add(&s[j], &c[j], p)
    for j in range(n % L):      # tail entries each to their own lane, as in _add_terms
        i = n - n % L + j
        p = a[i] * b[i]
        c[j] += two_prod_err(a[i], b[i], p)
        _lane_add(&s[j], &c[j], p)
    return _combine(s, c, low, L)


cdef inline double _dot(const double* a, const double* b, Py_ssize_t n,
                        double* low) noexcept nogil:
    # Compensated dot product (Ogita-Rump-Oishi Dot2) over lanes: exact products
    # (two_prod_err), compensated sums; returned as a double-double hi + low[0].
    if n < SHORT:
        return _dot_lanes(a, b, n, low, SHORT_LANES)
    return _dot_lanes(a, b, n, low, LANES)


cdef inline double _sum_lanes(const double* a, Py_ssize_t n, double* low,
                              int L) noexcept nogil:
    cdef double s[LANES]
    cdef double c[LANES]
    cdef Py_ssize_t k, j
    for j in range(L):
        s[j] = 0.0
        c[j] = 0.0
    for k in range(n // L):
        for j in range(L):
            _lane_add(&s[j], &c[j], a[k * L + j])
    for j in range(n % L):      # tail entries each to their own lane, as in _add_terms
        _lane_add(&s[j], &c[j], a[n - n % L + j])
    return _combine(s, c, low, L)


cdef inline double _sum(const double* a, Py_ssize_t n) noexcept nogil:
    # Compensated sum over lanes.
    cdef double low
    if n < SHORT:
        return _sum_lanes(a, n, &low, SHORT_LANES)
    return _sum_lanes(a, n, &low, LANES)


cdef inline void _softmax_backward_out(const double* g, const double* y, double* out,
                                       Py_ssize_t n, double dot, double low) noexcept nogil:
    # g_i - dot cancels when g_i is close to the dot product: subtracting its high part
    # first (exact there, by Sterbenz) and then its low part keeps the difference accurate.
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = y[i] * ((g[i] - dot) - low)


cdef inline void _log_softmax_backward_out(const double* g, const double* y, double* out,
                                           Py_ssize_t n, double total) noexcept nogil:
    # g - e^y total. With vectors of 4 or fewer in blocks of three loops, as _exp_blocks
    # does (the exp's reduction; its polynomial and scale; the rest): same bits,
    # tools/ab_kernels.py 1.10 on AVX2 and 1.13 on the baseline build; with AVX-512 one
    # loop (split: 0.92). out may be g or y: each block reads both before it writes.
    cdef double t[BLOCK]
    cdef double k[BLOCK]
    cdef Py_ssize_t i = 0, j, m
    if _WIDE_VECTORS:
        for i in range(n):
            out[i] = g[i] - vexp(y[i]) * total
        return
    while i < n:
        m = n - i if n - i < BLOCK else BLOCK
        for j in range(m):          # t holds r until the next loop
            t[j] = vexp_reduce(y[i + j], &k[j])
        for j in range(m):
            t[j] = vexp_finish(t[j], k[j])
        for j in range(m):
            out[i + j] = g[i + j] - t[j] * total
        i += m


# Long rows backward, as forward (see "long rows"): each chunk's compensated sum
# (g . y, or sum g for log_softmax) as a double-double (chunk_reduce), folded in chunk
# order (long_reduce), then each chunk written from it (chunk_backward).

cdef void chunk_reduce(const double* g,  # IN, one chunk
                       const double* y,  # IN, one chunk (unused for log)
                       Py_ssize_t n, bint log,
                       double* st) noexcept nogil:  # OUT, [hi, lo]
    if log:
        st[0] = _sum_lanes(g, n, &st[1], LANES)
    else:
        st[0] = _dot_lanes(g, y, n, &st[1], LANES)


cdef double long_reduce(const double* st,  # IN, chunk_reduce of each chunk, at stride 3
                        Py_ssize_t chunks,
                        double* low) noexcept nogil:   # OUT, the low part
    cdef double acc[2]
    cdef double hi
    cdef Py_ssize_t c
    acc[0] = 0.0
    acc[1] = 0.0
    for c in range(chunks):
        _fold_sum_chunk(acc, st + 3 * c)
    return _dd_hi(acc[0], acc[1], low)


cdef void chunk_backward(const double* g, const double* y,  # IN, one chunk
                         double* out,                       # OUT, one chunk
                         Py_ssize_t n, double hi, double low, bint log) noexcept nogil:
    if log:
        _log_softmax_backward_out(g, y, out, n, hi)
    else:
        _softmax_backward_out(g, y, out, n, hi, low)


cdef inline double _long_reduce_serial(const double* g, const double* y, Py_ssize_t n,
                                       bint log, double* low, bint masked) noexcept nogil:
    # The chunks' sums folded in order, as the team folds them; `masked` (a constant at
    # each call site): softmax_backward's fallback (see _masked_product_add).
    cdef double st[2]
    cdef double acc[2]
    cdef Py_ssize_t c0 = 0
    cdef Py_ssize_t m
    acc[0] = 0.0
    acc[1] = 0.0
    while c0 < n:
        m = min(<Py_ssize_t>LONG_ROW, n - c0)
        if masked:
            st[0] = _masked_dot_lanes(g + c0, y + c0, m, &st[1], LANES)
        else:
            chunk_reduce(g + c0, y + c0, m, log, st)
        _fold_sum_chunk(acc, st)
        c0 += LONG_ROW
    return _dd_hi(acc[0], acc[1], low)


# softmax_backward where the gradient has an inf or NaN (rare; it makes the dot product
# inf or NaN, so the usual path pays one check per slice): an entry with y_j = 0 has a
# zero row and column in the Jacobian, so it adds nothing to the dot product and its
# result is 0 (no inf * 0 = NaN), as the elementwise backward products do. The sums run
# in the usual order, entry by entry, so the results are those of a gradient with 0 at
# such entries.

cdef inline void _masked_product_add(double* s, double* c, double g,
                                     double y) noexcept nogil:
    # s + c += g y as _dot_lanes adds it, with g taken as 0 where y = 0.
    cdef double gy = 0.0 if y == 0.0 else g
    cdef double p = gy * y
    c[0] += two_prod_err(gy, y, p)
    _lane_add(s, c, p)


cdef inline double _masked_dot_lanes(const double* g, const double* y, Py_ssize_t n,
                                     double* low, int L) noexcept nogil:
    # _dot_lanes(g, y) with _masked_product_add: entry i goes to lane i mod L there too.
    cdef double s[LANES]
    cdef double c[LANES]
    cdef Py_ssize_t i
    for i in range(L):
        s[i] = 0.0
        c[i] = 0.0
    for i in range(n):
        _masked_product_add(&s[i % L], &c[i % L], g[i], y[i])
    return _combine(s, c, low, L)


cdef inline void _masked_backward_out(const double* g, const double* y, double* out,
                                      Py_ssize_t n, double dot, double low) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = 0.0 if y[i] == 0.0 else y[i] * ((g[i] - dot) - low)


cdef inline void _masked_slice(const double* g, const double* y, double* out,
                               Py_ssize_t n, int L) noexcept nogil:
    # A slice whose sum runs over L lanes.
    cdef double low
    cdef double dot = _masked_dot_lanes(g, y, n, &low, L)
    _masked_backward_out(g, y, out, n, dot, low)


cdef void _softmax_backward_masked(const double* grad_output,  # IN
                                   const double* output,       # IN
                                   double* out,                # OUT
                                   Py_ssize_t n) noexcept nogil:
    # Long rows chunk by chunk, as the team takes them.
    cdef double dot, low
    if n <= LONG_ROW:
        _masked_slice(grad_output, output, out, n, SHORT_LANES if n < SHORT else LANES)
        return
    dot = _long_reduce_serial(grad_output, output, n, False, &low, True)
    _masked_backward_out(grad_output, output, out, n, dot, low)


cdef void softmax_backward(const double* grad_output,  # IN
                           const double* output,       # IN
                           double* out,                # OUT
                           Py_ssize_t n) noexcept nogil:
    cdef double low
    cdef double dot = (_long_reduce_serial(grad_output, output, n, False, &low, False)
                       if n > LONG_ROW else _dot(grad_output, output, n, &low))
    if dot - dot != 0.0:        # an inf or NaN gradient (or output)
        _softmax_backward_masked(grad_output, output, out, n)
        return
    _softmax_backward_out(grad_output, output, out, n, dot, low)


cdef void log_softmax_backward(const double* grad_output,  # IN
                               const double* output,       # IN
                               double* out,                # OUT
                               Py_ssize_t n) noexcept nogil:
    cdef double low
    cdef double total = (_long_reduce_serial(grad_output, output, n, True, &low, False)
                         if n > LONG_ROW else _sum(grad_output, n))
    _log_softmax_backward_out(grad_output, output, out, n, total)


cdef inline void _short_rows_backward(const double* g, const double* y, double* out,
                                      Py_ssize_t rows, Py_ssize_t n, bint log) noexcept nogil:
    # The backward kernels for rows shorter than SHORT_ROW, as _short_rows does forward:
    # each row's compensated sum (g . y, or sum g for log) runs across ROW_BLOCK rows on
    # transposed copies, then each row is written from its sum as in the slice kernels.
    cdef double gb[SHORT_ROW * ROW_BLOCK]
    cdef double yb[SHORT_ROW * ROW_BLOCK]
    cdef double s[ROW_BLOCK]
    cdef double c[ROW_BLOCK]
    cdef double low[ROW_BLOCK]
    cdef Py_ssize_t r0 = 0, r, i, w, k
    cdef double p
    while r0 < rows:
        w = min(<Py_ssize_t>ROW_BLOCK, rows - r0)
        for r in range(w):
            for i in range(n):
                gb[i * w + r] = g[(r0 + r) * n + i]
                if not log:
                    yb[i * w + r] = y[(r0 + r) * n + i]
        for r in range(w):
            s[r] = 0.0
            c[r] = 0.0
        for i in range(n):
            for r in range(w):
                if log:
                    _lane_add(&s[r], &c[r], gb[i * w + r])
                else:
                    p = gb[i * w + r] * yb[i * w + r]
                    c[r] += two_prod_err(gb[i * w + r], yb[i * w + r], p)
                    _lane_add(&s[r], &c[r], p)
        for r in range(w):
            s[r] = _dd_hi(s[r], c[r], &low[r])
        for r in range(w):
            k = (r0 + r) * n
            if not log and s[r] - s[r] != 0.0:     # one lane: this path sums entry by entry
                _masked_slice(g + k, y + k, out + k, n, 1)
                continue
            for i in range(n):
                if log:
                    out[k + i] = g[k + i] - vexp(y[k + i]) * s[r]
                else:
                    out[k + i] = y[k + i] * ((g[k + i] - s[r]) - low[r])
        r0 += w


cdef void softmax_backward_rows(const double* grad_output,  # IN, rows * n
                                const double* output,       # IN, rows * n
                                double* out,                # OUT, rows * n
                                Py_ssize_t rows, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t r
    if n < SHORT_ROW:
        _short_rows_backward(grad_output, output, out, rows, n, False)
    else:
        for r in range(rows):
            softmax_backward(grad_output + r * n, output + r * n, out + r * n, n)


cdef void log_softmax_backward_rows(const double* grad_output,  # IN, rows * n
                                    const double* output,       # IN, rows * n
                                    double* out,                # OUT, rows * n
                                    Py_ssize_t rows, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t r
    if n < SHORT_ROW:
        _short_rows_backward(grad_output, output, out, rows, n, True)
    else:
        for r in range(rows):
            log_softmax_backward(grad_output + r * n, output + r * n, out + r * n, n)


cdef void softmax_backward_slice(const double* grad_output,  # IN
                                 const double* output,       # IN
                                 double* out,                # OUT
                                 Py_ssize_t n) noexcept nogil:
    softmax_backward_rows(grad_output, output, out, 1, n)


cdef void log_softmax_backward_slice(const double* grad_output,  # IN
                                     const double* output,       # IN
                                     double* out,                # OUT
                                     Py_ssize_t n) noexcept nogil:
    log_softmax_backward_rows(grad_output, output, out, 1, n)


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
