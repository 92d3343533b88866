# The softmax family's backward products (included by _kernels_impl.pxi): compensated
# dot products and sums per slice, long rows in chunks, short rows transposed.

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
