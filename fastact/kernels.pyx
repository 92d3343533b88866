# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The public kernels (kernels.pxd): CPU dispatch and threads around the variant kernels.

Design: the same kernel source (_kernels_impl.pxi) is compiled once per instruction set
(_kernels_baseline/avx2/avx512). At import this module picks the best variant the CPU runs
(FASTACT_ISA may force a lower one) and keeps a pointer to its table of kernels. Each
public kernel calls through that table; a call over enough elements is cut into equal
contiguous pieces run by an OpenMP team (a softmax batch by whole rows, or a few long
rows by the fixed chunks of each), so results do not depend on the thread count.
One team runs at a time: a call that finds another in flight runs on its own thread,
which keeps several Python threads from oversubscribing the cores.
"""

import operator
import os

from cpython.pycapsule cimport PyCapsule_GetPointer
from cython.parallel cimport prange
from libc.limits cimport INT_MAX
from libc.math cimport NAN, log1p
from libc.stdlib cimport free, malloc

from fastact._table cimport (
    KernelTable, unary_k, unary_param_k, binary_k, binary_param_k, rows_k, rows2_k,
    cols_k, LONG_ROW,
)

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int fastact_omp_max_threads(void) { return omp_get_max_threads(); }
    static const int fastact_openmp = 1;
    #else
    static int fastact_omp_max_threads(void) { return 1; }
    static const int fastact_openmp = 0;
    #endif
    /* One team at a time: a process-wide flag taken by compare-and-swap. */
    static volatile long fastact_team_busy = 0;
    #if defined(_MSC_VER)
    #include <intrin.h>
    static int fastact_try_team(void) {
        return _InterlockedCompareExchange(&fastact_team_busy, 1, 0) == 0;
    }
    static void fastact_end_team(void) { _InterlockedExchange(&fastact_team_busy, 0); }
    #else
    static int fastact_try_team(void) {
        return __sync_bool_compare_and_swap(&fastact_team_busy, 0, 1);
    }
    static void fastact_end_team(void) { __sync_lock_release(&fastact_team_busy); }
    #endif
    """
    int fastact_omp_max_threads() nogil
    const int fastact_openmp
    int fastact_try_team() nogil
    void fastact_end_team() nogil

VARIANTS = ("baseline", "avx2", "avx512")     # from lowest to highest

cdef KernelTable* T = NULL
cdef int _num_threads = 1
# GNU OpenMP's thread pool does not survive a fork: in a child made by fork after a team
# ran on the same runtime (fastact's, or another library's), a team hangs. So a child
# made by fork runs every call on its own thread, as one worker among several should
# anyway: for good when fastact had run a team before the fork (FORKED_AFTER_TEAM);
# otherwise until the child calls set_num_threads (FORKED), since fastact cannot see
# another library's teams.
cdef enum ForkState:
    NOT_FORKED
    FORKED
    FORKED_AFTER_TEAM
cdef bint _team_started = False
cdef ForkState _fork_state = NOT_FORKED
# Below this many elements per thread, starting a team costs more than it saves.
# Measured on the 2-core development machine (2 threads vs 1, out= preallocated): at
# 2 x 16384 elements sigmoid runs 1.65x and softmax (rows of 100) 1.72x faster, at
# 2 x 2048 both run slower. The elementwise kernels without an exp (the ReLUs and the
# backward products, 0.2-0.4 ns per element) count half their elements against it: relu
# ran 0.92x at 2 x 16384 and 1.48x at 2 x 32768.
cdef Py_ssize_t MIN_PER_THREAD = 16384


# ---------------------------------------------------------------- variants

def supported_variants():
    """The variants this build has and this CPU can run, lowest first."""
    import platform
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64", "x64"):
        return ["baseline"]
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as cpu
    except ImportError:         # NumPy's private feature table moved: stay safe
        cpu = {}
    found = ["baseline"]
    if all(cpu.get(f) for f in ("AVX2", "FMA3", "F16C")):
        found.append("avx2")
        if all(cpu.get(f) for f in ("AVX512F", "AVX512CD", "AVX512_SKX")):
            found.append("avx512")
    out = []
    for name in found:
        try:
            __import__(f"fastact._kernels_{name}")
        except ImportError:
            continue
        out.append(name)
    return out


def _module(name):
    import importlib
    return importlib.import_module(f"fastact._kernels_{name}")


def _use_variant(str name):
    """Point every kernel at variant `name` (tests, FASTACT_ISA); not thread-safe."""
    global T, variant
    if name not in supported_variants():
        raise ValueError(f"variant {name!r} is not available here; "
                         f"choose from {supported_variants()}")
    T = <KernelTable*>PyCapsule_GetPointer(_module(name).table, b"fastact.KernelTable")
    variant = name


# Warnings about the environment variables, raised by fastact/__init__.py once the
# import is done, so that they point at the user's `import fastact` rather than at
# importlib (this module's own code has no Python frame).
_import_warnings = []


def _choose():
    available = supported_variants()
    wanted = os.environ.get("FASTACT_ISA", "").strip().lower()
    if wanted and wanted not in VARIANTS:
        _import_warnings.append(f"FASTACT_ISA={wanted!r} is not one of {VARIANTS}; ignored")
    elif wanted and wanted not in available:
        _import_warnings.append(f"FASTACT_ISA={wanted!r} is not supported by this CPU or "
                                f"build; using {available[len(available) - 1]!r}")
    elif wanted:
        return wanted
    return available[len(available) - 1]


variant = None
_use_variant(_choose())


def variant_flags(name):
    """The compiler flags variant `name` was built with."""
    from fastact._build_info import VARIANT_FLAGS
    return VARIANT_FLAGS.get(name, "?")


# ---------------------------------------------------------------- threads

def _default_threads():
    env = os.environ.get("FASTACT_NUM_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n >= 1:
            return min(n, INT_MAX)
        _import_warnings.append(f"FASTACT_NUM_THREADS={env!r} is not a positive integer; "
                                "ignored")
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def set_num_threads(n):
    """Use at most `n` threads per call (an OpenMP limit such as threadpoolctl's also
    applies). A process made by fork uses one thread until it calls this, and for good
    if fastact ran a team before the fork."""
    global _num_threads, _fork_state
    if isinstance(n, bool):
        raise TypeError("set_num_threads: n must be an integer, not bool")
    n = operator.index(n)       # an integer: 1.5 and "2" raise TypeError, as range() does
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _num_threads = min(n, INT_MAX)
    if _fork_state == FORKED:
        _fork_state = NOT_FORKED


def get_num_threads():
    """The most threads one call will use: set_num_threads / FASTACT_NUM_THREADS,
    capped by OpenMP's own limit (1 in a build without OpenMP, or in a process made by
    fork: see set_num_threads)."""
    if _fork_state != NOT_FORKED:
        return 1
    return min(_num_threads, fastact_omp_max_threads())


def _after_fork_in_child():
    global _fork_state
    _fork_state = FORKED_AFTER_TEAM if _team_started else FORKED


def has_openmp():
    """Whether this build runs large calls on OpenMP threads."""
    return bool(fastact_openmp)


def _min_per_thread(n=None):
    """The threading threshold (elements per thread); set it with n (benchmarks)."""
    global MIN_PER_THREAD
    if n is not None:
        MIN_PER_THREAD = max(1, int(n))
    return MIN_PER_THREAD


def _omp_max_threads():
    return fastact_omp_max_threads()


def _num_threads_setting():
    """The set_num_threads value itself, before the OpenMP cap."""
    return _num_threads


_num_threads = _default_threads()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


cdef inline int _team(Py_ssize_t work) noexcept nogil:
    # How many threads a call over `work` elements gets; > 1 means the team flag is held.
    global _team_started
    cdef int nt = _num_threads
    cdef int omp
    if work < 2 * MIN_PER_THREAD or _fork_state != NOT_FORKED:    # small or forked: 1
        return 1
    omp = fastact_omp_max_threads()
    if omp < nt:
        nt = omp
    if work // MIN_PER_THREAD < nt:
        nt = <int>(work // MIN_PER_THREAD)
    if nt <= 1 or not fastact_try_team():
        return 1
    _team_started = True
    return nt


cdef inline Py_ssize_t _piece(Py_ssize_t n, int parts) noexcept nogil:
    # Piece length: n / parts rounded up to whole cache lines (8 doubles).
    return ((n + parts - 1) // parts + 7) // 8 * 8


# ---------------------------------------------------------------- elementwise

# One elementwise call, whatever the kernel's signature: x (and g) -> out, with alpha.
ctypedef struct Call:
    void* k             # the kernel; its signature is given by `kind`
    int kind            # 0: k(x, out, n)  1: + alpha  2: k(g, y, out, n)  3: + alpha
    const double* a
    const double* b
    double* out
    double alpha


cdef void _call_piece(void* ctx, Py_ssize_t lo, Py_ssize_t m) noexcept nogil:
    cdef const Call* c = <const Call*>ctx
    if c.kind == 0:
        (<unary_k>c.k)(c.a + lo, c.out + lo, m)
    elif c.kind == 1:
        (<unary_param_k>c.k)(c.a + lo, c.out + lo, m, c.alpha)
    elif c.kind == 2:
        (<binary_k>c.k)(c.a + lo, c.b + lo, c.out + lo, m)
    else:
        (<binary_param_k>c.k)(c.a + lo, c.b + lo, c.out + lo, m, c.alpha)


cdef void split_pieces(piece_k piece, void* ctx, Py_ssize_t n, bint cheap) noexcept nogil:
    # piece(ctx, lo, m) over n entries, whole or in equal pieces on an OpenMP team;
    # `cheap`: work without an exp (see MIN_PER_THREAD). The contiguous kernels (_split)
    # and _ufuncs' loop over strided, broadcast or float32 operands.
    cdef int nt = _team(n // 2 if cheap else n)
    cdef Py_ssize_t p, i, lo
    if nt == 1:
        piece(ctx, 0, n)
        return
    p = _piece(n, nt)
    for i in prange(nt, num_threads=nt, schedule="static"):
        lo = i * p
        if lo < n:
            piece(ctx, lo, min(p, n - lo))
    fastact_end_team()


cdef inline bint _shifted(const double* out, const double* x, Py_ssize_t n) noexcept nogil:
    # out overlaps x other than exactly. NumPy hands a ufunc loop such operands uncopied
    # when out starts before x with the same stride (np.tanh(a[1:], out=a[:-1])): safe in
    # order, as the kernels run, but each thread's last entries would read x after the
    # next thread's piece had overwritten it.
    cdef size_t o = <size_t>out, i = <size_t>x, size = <size_t>n * sizeof(double)
    return x != NULL and o != i and o < i + size and i < o + size


cdef inline void _split(void* k, int kind, const double* a, const double* b, double* out,
                        Py_ssize_t n, double alpha, bint cheap) noexcept nogil:
    # The whole call, or equal pieces of it on an OpenMP team (split_pieces); an out
    # shifted against an input runs on one thread.
    cdef Call c
    c.k = k
    c.kind = kind
    c.a = a
    c.b = b
    c.out = out
    c.alpha = alpha
    if _shifted(out, a, n) or _shifted(out, b, n):
        _call_piece(&c, 0, n)
    else:
        split_pieces(_call_piece, &c, n, cheap)


cdef inline void _unary(unary_k k, const double* x, double* out, Py_ssize_t n,
                        bint cheap=False) noexcept nogil:
    _split(<void*>k, 0, x, NULL, out, n, 0.0, cheap)


cdef inline void _unary_param(unary_param_k k, const double* x, double* out, Py_ssize_t n,
                              double a) noexcept nogil:
    _split(<void*>k, 1, x, NULL, out, n, a, True)      # the leaky ReLUs


cdef inline void _binary(binary_k k, const double* g, const double* y, double* out,
                         Py_ssize_t n) noexcept nogil:
    _split(<void*>k, 2, g, y, out, n, 0.0, True)       # the backward products


cdef inline void _binary_param(binary_param_k k, const double* g, const double* y,
                               double* out, Py_ssize_t n, double a) noexcept nogil:
    _split(<void*>k, 3, g, y, out, n, a, True)


cdef void sigmoid(const double* x, double* out, Py_ssize_t n) noexcept nogil:
    _unary(T.sigmoid, x, out, n)

cdef void tanh(const double* x, double* out, Py_ssize_t n) noexcept nogil:
    _unary(T.tanh, x, out, n)

cdef void relu(const double* x, double* out, Py_ssize_t n) noexcept nogil:
    _unary(T.relu, x, out, n, True)

cdef void leaky_relu(const double* x, double* out, Py_ssize_t n, double alpha) noexcept nogil:
    _unary_param(T.leaky_relu, x, out, n, alpha)

cdef void sigmoid_derivative(const double* x, double* out, Py_ssize_t n) noexcept nogil:
    _unary(T.sigmoid_derivative, x, out, n)

cdef void tanh_derivative(const double* x, double* out, Py_ssize_t n) noexcept nogil:
    _unary(T.tanh_derivative, x, out, n)

cdef void relu_derivative(const double* x, double* out, Py_ssize_t n) noexcept nogil:
    _unary(T.relu_derivative, x, out, n, True)

cdef void leaky_relu_derivative(const double* x, double* out, Py_ssize_t n,
                                double alpha) noexcept nogil:
    _unary_param(T.leaky_relu_derivative, x, out, n, alpha)

cdef void sigmoid_backward(const double* grad_output, const double* output, double* out,
                           Py_ssize_t n) noexcept nogil:
    _binary(T.sigmoid_backward, grad_output, output, out, n)

cdef void tanh_backward(const double* grad_output, const double* output, double* out,
                        Py_ssize_t n) noexcept nogil:
    _binary(T.tanh_backward, grad_output, output, out, n)

cdef void relu_backward(const double* grad_output, const double* output, double* out,
                        Py_ssize_t n) noexcept nogil:
    _binary(T.relu_backward, grad_output, output, out, n)

cdef void leaky_relu_backward(const double* grad_output, const double* output, double* out,
                              Py_ssize_t n, double alpha) noexcept nogil:
    _binary_param(T.leaky_relu_backward, grad_output, output, out, n, alpha)


# ---------------------------------------------------------------- softmax family

cdef void softmax(const double* x, double* out, Py_ssize_t n) noexcept nogil:
    T.softmax(x, out, n)

cdef void log_softmax(const double* x, double* out, Py_ssize_t n) noexcept nogil:
    T.log_softmax(x, out, n)

cdef void softmax_jacobian(const double* x, double* out, Py_ssize_t n) noexcept nogil:
    T.softmax_jacobian(x, out, n)

cdef void softmax_backward(const double* grad_output, const double* output, double* out,
                           Py_ssize_t n) noexcept nogil:
    T.softmax_backward(grad_output, output, out, n)

cdef void log_softmax_backward(const double* grad_output, const double* output, double* out,
                               Py_ssize_t n) noexcept nogil:
    T.log_softmax_backward(grad_output, output, out, n)


# A batch call of the softmax family: rows of n entries, x (and g) -> out.
ctypedef struct RowCall:
    void* k             # its signature is given by `kind`
    int kind            # 0: rows_k k(x, out, rows, n)  1: rows2_k k(g, y, out, rows, n)
                        # 2: unary_k k(x, out, n) per row, out_n entries out per row
    const double* a
    const double* b
    double* out
    Py_ssize_t n
    Py_ssize_t out_n


cdef inline void _row_piece(const RowCall* c, Py_ssize_t lo, Py_ssize_t rows) noexcept nogil:
    cdef Py_ssize_t off = lo * c.n
    cdef Py_ssize_t r
    if c.kind == 0:
        (<rows_k>c.k)(c.a + off, c.out + off, rows, c.n)
    elif c.kind == 1:
        (<rows2_k>c.k)(c.a + off, c.b + off, c.out + off, rows, c.n)
    else:
        for r in range(lo, lo + rows):
            (<unary_k>c.k)(c.a + r * c.n, c.out + r * c.out_n, c.n)


cdef inline void _row_batches(void* k, int kind, const double* a, const double* b,
                              double* out, Py_ssize_t rows, Py_ssize_t n,
                              Py_ssize_t out_n) noexcept nogil:
    # A contiguous run of whole rows per thread; the kernel computes each row from that
    # row alone, so results do not depend on the thread count.
    cdef RowCall c
    cdef int nt
    cdef Py_ssize_t per, t, lo
    if n == 0 or rows == 0:
        return
    c.k = k
    c.kind = kind
    c.a = a
    c.b = b
    c.out = out
    c.n = n
    c.out_n = out_n
    nt = _team(rows * n) if rows > 1 else 1
    if nt == 1:
        _row_piece(&c, 0, rows)
        return
    per = (rows + nt - 1) // nt
    for t in prange(nt, num_threads=nt, schedule="static"):
        lo = t * per
        if lo < rows:
            _row_piece(&c, lo, min(per, rows - lo))
    fastact_end_team()


cdef inline Py_ssize_t _chunk_len(Py_ssize_t n, Py_ssize_t c) noexcept nogil:
    return min(<Py_ssize_t>LONG_ROW, n - c * LONG_ROW)


cdef void _long_row(bint log, const double* x, double* out, Py_ssize_t n,
                    int nt) noexcept nogil:
    # One row of more than LONG_ROW entries on a team of nt threads, in the variant's
    # chunk steps (_softmax_slices.pxi, "long rows"): the same terms, sums and folds as
    # the variant's own serial path, so the same bits.
    cdef Py_ssize_t chunks = (n + LONG_ROW - 1) // LONG_ROW
    cdef Py_ssize_t c
    cdef double m, total, norm
    cdef double* st = <double*>malloc(3 * chunks * sizeof(double))
    if st != NULL:
        for c in prange(chunks, num_threads=nt, schedule="static"):
            T.chunk_max(x + c * LONG_ROW, _chunk_len(n, c), st + 3 * c)
    if st == NULL or T.long_kind(st, chunks, &m) != 0:  # NaN, infinite or far max
        free(st)
        (T.log_softmax if log else T.softmax)(x, out, n)
        return
    for c in prange(chunks, num_threads=nt, schedule="static"):
        T.chunk_sum(x + c * LONG_ROW, NULL if log else out + c * LONG_ROW,
                    _chunk_len(n, c), m, not log, st + 3 * c)
    norm = T.long_others(st, chunks, m, &total)
    free(st)
    if total != total:
        # A NaN entry, found by the sums (which in place have overwritten x with
        # terms): NaN everywhere, as the serial path fills it.
        for c in range(n):
            out[c] = NAN
        return
    norm = log1p(norm) if log else total
    for c in prange(chunks, num_threads=nt, schedule="static"):
        T.chunk_scale(x + c * LONG_ROW, out + c * LONG_ROW, _chunk_len(n, c), m, norm, log)


cdef void _long_row_backward(bint log, const double* g, const double* y, double* out,
                             Py_ssize_t n, int nt) noexcept nogil:
    # The backward of one long row on a team, in the variant's chunk steps ("long rows
    # backward"), as _long_row does forward.
    cdef Py_ssize_t chunks = (n + LONG_ROW - 1) // LONG_ROW
    cdef Py_ssize_t c
    cdef double hi, low
    cdef double* st = <double*>malloc(3 * chunks * sizeof(double))
    if st == NULL:
        (T.log_softmax_backward if log else T.softmax_backward)(g, y, out, n)
        return
    for c in prange(chunks, num_threads=nt, schedule="static"):
        T.chunk_reduce(g + c * LONG_ROW, y + c * LONG_ROW, _chunk_len(n, c), log,
                       st + 3 * c)
    hi = T.long_reduce(st, chunks, &low)
    free(st)
    if not log and hi - hi != 0.0:      # an inf or NaN gradient: the serial fallback
        T.softmax_backward(g, y, out, n)
        return
    for c in prange(chunks, num_threads=nt, schedule="static"):
        T.chunk_backward(g + c * LONG_ROW, y + c * LONG_ROW, out + c * LONG_ROW,
                         _chunk_len(n, c), hi, low, log)


cdef inline bint _long_rows(bint backward, bint log, const double* a, const double* b,
                            double* out, Py_ssize_t rows, Py_ssize_t n) noexcept nogil:
    # Fewer rows than threads, each longer than LONG_ROW (a 1-D softmax of 1e6): the
    # team shares each row's chunks. False when the call is left to _row_batches.
    cdef int nt
    cdef Py_ssize_t r
    if n <= LONG_ROW or rows >= _num_threads:
        return False
    nt = _team(rows * n)
    if nt == 1:
        return False
    if rows >= nt:
        fastact_end_team()
        return False
    for r in range(rows):
        if backward:
            _long_row_backward(log, a + r * n, b + r * n, out + r * n, n, nt)
        else:
            _long_row(log, a + r * n, out + r * n, n, nt)
    fastact_end_team()
    return True


cdef void softmax_rows(const double* x, double* out, Py_ssize_t rows,
                       Py_ssize_t n) noexcept nogil:
    if not _long_rows(False, False, x, NULL, out, rows, n):
        _row_batches(<void*>T.softmax_rows, 0, x, NULL, out, rows, n, n)

cdef void log_softmax_rows(const double* x, double* out, Py_ssize_t rows,
                           Py_ssize_t n) noexcept nogil:
    if not _long_rows(False, True, x, NULL, out, rows, n):
        _row_batches(<void*>T.log_softmax_rows, 0, x, NULL, out, rows, n, n)

cdef void softmax_jacobian_rows(const double* x, double* out, Py_ssize_t rows,
                                Py_ssize_t n) noexcept nogil:
    _row_batches(<void*>T.softmax_jacobian, 2, x, NULL, out, rows, n, n * n)

cdef void softmax_backward_rows(const double* grad_output, const double* output, double* out,
                                Py_ssize_t rows, Py_ssize_t n) noexcept nogil:
    if not _long_rows(True, False, grad_output, output, out, rows, n):
        _row_batches(<void*>T.softmax_backward_rows, 1, grad_output, output, out, rows,
                     n, n)

cdef void log_softmax_backward_rows(const double* grad_output, const double* output,
                                    double* out, Py_ssize_t rows, Py_ssize_t n) noexcept nogil:
    if not _long_rows(True, True, grad_output, output, out, rows, n):
        _row_batches(<void*>T.log_softmax_backward_rows, 1, grad_output, output, out, rows,
                     n, n)


cdef inline void _cols(cols_k k, const double* x, double* out, Py_ssize_t outer,
                       Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    # Work items: (block, column piece); whole columns per item, so results do not
    # depend on the thread count.
    cdef int nt
    cdef Py_ssize_t pieces, per, item, b, j0
    if n == 0 or m == 0:
        return
    nt = _team(outer * n * m)
    if nt == 1:
        for b in range(outer):
            k(x + b * n * m, out + b * n * m, n, m, m)
        return
    per = _piece(m, nt) if outer < nt else m
    pieces = (m + per - 1) // per
    for item in prange(outer * pieces, num_threads=nt, schedule="static"):
        b = item // pieces
        j0 = (item % pieces) * per
        k(x + b * n * m + j0, out + b * n * m + j0, n, min(per, m - j0), m)
    fastact_end_team()


cdef void softmax_cols(const double* x, double* out, Py_ssize_t outer, Py_ssize_t n,
                       Py_ssize_t m) noexcept nogil:
    _cols(T.softmax_cols, x, out, outer, n, m)

cdef void log_softmax_cols(const double* x, double* out, Py_ssize_t outer, Py_ssize_t n,
                           Py_ssize_t m) noexcept nogil:
    _cols(T.log_softmax_cols, x, out, outer, n, m)
