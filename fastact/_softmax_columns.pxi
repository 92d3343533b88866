# Softmax over a non-last axis (included by _kernels_impl.pxi): the column kernels, the
# short rows they also take (transposed), the row-batch and single-slice entry points,
# and the Jacobian.

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
