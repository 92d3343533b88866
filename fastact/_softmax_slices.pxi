# Softmax and log_softmax of one contiguous slice (included by _kernels_impl.pxi): the
# light max pass near the max (_near_slice), rows longer than LONG_ROW in chunks that
# threads share, and the general path.

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
