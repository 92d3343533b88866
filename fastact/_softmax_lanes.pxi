# The softmax family's building blocks (included by _kernels_impl.pxi): lane sums and
# their fold, the max passes, the terms and their compensated sums, with the AVX-512
# and AVX2 C loops.

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
           chunk_max, _long_near) whether any entry lies below the terms' cutoff.
           Exact, so the lane count does not matter, except that of a +0 and a -0 the
           max may be either, as it may be in _slice_max_lanes (whose lanes and fold
           keep a different one): no result depends on the sign of a zero max (the
           offset, the unit, x - m, x == m). */
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
                                              __m512i scale, __m512d vlo, __m512d vmx,
                                              int store, int clamp, Py_ssize_t* ntop) {
        /* Entries x[i:i+8] where k is set: their terms (0 below lo, -inf too), stored to
           out when `store` where ks is set (k, or fewer lanes), returned as the lanes
           take them (0 at the max, and where k is clear: lane values of 0 leave s and c
           as they are); *ntop += how many equal the max. A NaN entry's term is NaN.
           Without `clamp` every entry must be >= lo (none is -inf): the exp takes x as
           it is, 3 operations fewer per 8 entries, the same terms; masked-off lanes
           read mx. table and scale as fastact_exp_table8 takes them. */
        __m512d xv, t;
        if (clamp) {
            xv = _mm512_maskz_loadu_pd(k, x + i);
            t = _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(xv, vlo, _CMP_NLT_UQ),
                                    fastact_exp_table8(_mm512_max_pd(vlo, xv), table,
                                                       scale));
        } else {
            xv = _mm512_mask_loadu_pd(vmx, k, x + i);
            t = fastact_exp_table8(xv, table, scale);
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
        fastact_exp_table_load(table, offset - 1023);
        return _mm512_cvtsd_f64(fastact_exp_table8(_mm512_set1_pd(mx), table,
                                                   _mm512_setzero_si512()));
    }

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
        const __m512i off = _mm512_setzero_si512();     /* the offset is in the table */
        /* one variable per register: an array indexed at run time lived on the stack,
           stored every iteration */
        __m512d s0 = _mm512_loadu_pd(s), c0 = _mm512_loadu_pd(c), s1, s2, s3, c1, c2, c3;
        Py_ssize_t i = 0, ntop = 0;
        /* exp_units' offset holds the bias 1023 that T_j's exponent field carries */
        fastact_exp_table_load(table, offset - 1023);
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
        __m512i scale[32];      /* each group's (offset - 1023) 2^52; COLS / 8 groups */
        Py_ssize_t i, j, ntop = 0;     /* the tie count: unused here (see _cols_block) */
        fastact_exp_table_load(table, 0);
        for (j = 0; j < w; j += 8) {
            __mmask8 k = w - j >= 8 ? (__mmask8)0xff : (__mmask8)((1u << (w - j)) - 1);
            scale[j / 8] = _mm512_slli_epi64(_mm512_sub_epi64(
                _mm512_maskz_loadu_epi64(k, offset + j), _mm512_set1_epi64(1023)), 52);
        }
        for (i = 0; i < n; i++) {
            const double* row = x + i * stride;
            double* orow = out + i * stride;
            for (j = 0; j < w; j += 8) {
                __mmask8 k = w - j >= 8 ? (__mmask8)0xff : (__mmask8)((1u << (w - j)) - 1);
                __m512d vs = _mm512_maskz_loadu_pd(k, s + j);
                __m512d vc = _mm512_maskz_loadu_pd(k, c + j);
                fastact_two_sum8(&vs, &vc, fastact_units_group(
                    row, orow, j, k, k & (__mmask8)~special[j / 8], table, scale[j / 8],
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
    # polynomial), and log_softmax's normaliser there takes vlog1p, so a slice along
    # another axis may differ from the same values along the last one: softmax in the
    # last bit, log_softmax by up to 2 ulp. With `ties` (only in the three-loop form),
    # *ties = how many entries equal m, counted in the reduction loop (x is read there
    # before any term is stored: out may be x).
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
