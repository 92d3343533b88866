# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""The elementwise activations as real NumPy ufuncs.

Design: each ufunc has a float64 inner loop and one taking its first input as float32
(NumPy picks it when every other input is float64); NumPy does broadcasting, every other
cast (into float64 inputs, out of the float64 result), `out=`, `where=`, byte-swapping
and `__array_ufunc__` dispatch, and releases the GIL around the loop. One loop function
serves every ufunc: its `data` names the contiguous kernel from kernels.pyx, that
kernel's signature, the float32 input and the threads' threshold. Contiguous float64
operands go straight to the kernel; where one is strided (or broadcast, stride 0) or
float32 the call runs in blocks, only those operands through stack buffers (float32
widened there), so the math is written once. A broadcast `alpha` (stride 0) is passed to
the kernel as a scalar; one that varies goes element by element through the kernels'
scalar formula (_math.pxd). An out that lies on an input other than exactly or ahead of
it (reduce, accumulate) runs one element at a time (_in_order).
"""

cimport numpy as cnp
from numpy cimport npy_intp, PyUFuncGenericFunction, NPY_DOUBLE, NPY_FLOAT

from libc.string cimport memcpy

from fastact cimport kernels
from fastact._math cimport f_leaky_relu, d_leaky_relu, b_leaky_relu

cdef extern from "<fenv.h>" nogil:
    int feclearexcept(int excepts)
    int fetestexcept(int excepts)
    int FE_INVALID
    int FE_OVERFLOW
    int FE_DIVBYZERO
    int FE_UNDERFLOW

cnp.import_array()
cnp.import_ufunc()

cdef extern from *:
    """
    /* Casting rule of every fastact ufunc: bool, integer and floating inputs are
     * computed in float64; any other dtype is a TypeError naming the function and the
     * dtype (NumPy's default message names neither the dtype nor the argument). NumPy
     * calls this only when no loop matches the operands exactly. */
    static int
    fastact_type_resolver(PyUFuncObject *ufunc, NPY_CASTING casting,
                          PyArrayObject **operands, PyObject *type_tup,
                          PyArray_Descr **out_dtypes)
    {
        int i, nop = ufunc->nin + ufunc->nout;
        for (i = 0; i < ufunc->nin; i++) {
            PyArray_Descr *d = PyArray_DESCR(operands[i]);
            if (!PyTypeNum_ISBOOL(d->type_num) && !PyTypeNum_ISINTEGER(d->type_num)
                    && !PyTypeNum_ISFLOAT(d->type_num)) {
                PyErr_Format(PyExc_TypeError,
                             "%s: unsupported dtype %S for input %d; expected real "
                             "numbers (bool, integer or floating)",
                             ufunc->name, (PyObject *)d, i + 1);
                return -1;
            }
        }
        if (type_tup != NULL && type_tup != Py_None) {
            /* dtype= / signature=: each entry None or float64 */
            Py_ssize_t k, len = PyTuple_Check(type_tup) ? PyTuple_GET_SIZE(type_tup) : -1;
            for (k = 0; k < len; k++) {
                PyObject *t = PyTuple_GET_ITEM(type_tup, k);
                if (t != Py_None && !(PyArray_DescrCheck(t)
                        && ((PyArray_Descr *)t)->type_num == NPY_DOUBLE)) {
                    len = -1;
                }
            }
            if (len < 0) {
                PyErr_Format(PyExc_TypeError,
                             "%s: the loops give float64 from float64 inputs (the "
                             "first may be float32); dtype= or signature= must name "
                             "those", ufunc->name);
                return -1;
            }
        }
        for (i = 0; i < nop; i++) {
            out_dtypes[i] = PyArray_DescrFromType(NPY_DOUBLE);
        }
        if (PyUFunc_ValidateCasting(ufunc, casting, operands, out_dtypes) < 0) {
            for (i = 0; i < nop; i++) {
                Py_CLEAR(out_dtypes[i]);
            }
            return -1;
        }
        return 0;
    }

    static void
    fastact_set_type_resolver(PyObject *ufunc)
    {
        ((PyUFuncObject *)ufunc)->type_resolver = &fastact_type_resolver;
    }
    """
    void fastact_set_type_resolver(object ufunc)

ctypedef void (*unary_k)(const double*, double*, Py_ssize_t) noexcept nogil
ctypedef void (*unary_param_k)(const double*, double*, Py_ssize_t, double) noexcept nogil
ctypedef void (*binary_k)(const double*, const double*, double*, Py_ssize_t) noexcept nogil
ctypedef void (*binary_param_k)(const double*, const double*, double*, Py_ssize_t,
                                double) noexcept nogil

cdef enum:
    BLOCK = 256   # doubles per gathered block: 2 KiB of stack per operand


cdef int _SPURIOUS = FE_INVALID | FE_OVERFLOW | FE_DIVBYZERO | FE_UNDERFLOW


cdef inline int _flags() noexcept nogil:
    return fetestexcept(_SPURIOUS)


cdef inline void _drop_flags(int before) noexcept nogil:
    # The kernels are built with -fno-trapping-math, so the compiler may evaluate both
    # sides of a select (x * x on an input the polynomial branch does not use, signaling
    # compares on NaN): the invalid/overflow/divide flags they leave say nothing about the
    # result, and NumPy would turn them into RuntimeWarnings. The kernels produce inf and
    # NaN only where the math does, so drop the flags this loop raised (keeping any that
    # were already set before it). Underflow too: e^-2|x| underflows inside tanh(1e3) = 1
    # and sigmoid(1e3) = 1 (scipy.special.expit and np.tanh raise no flag there either);
    # so a genuine underflow (a subnormal sigmoid(-740)) is returned silently as well,
    # in line with "no RuntimeWarning for any input".
    feclearexcept(_SPURIOUS & ~before)


cdef inline bint _contig(npy_intp step) noexcept nogil:
    return step == sizeof(double)


cdef inline void _gather(char* src, npy_intp step, double* dst, npy_intp n) noexcept nogil:
    cdef npy_intp i
    if _contig(step):
        memcpy(dst, src, n * sizeof(double))
    else:
        for i in range(n):
            dst[i] = (<double*>(src + i * step))[0]


cdef inline void _widen(char* src, npy_intp step, double* dst, npy_intp n) noexcept nogil:
    # float32 entries into float64 ones (exact)
    cdef npy_intp i
    cdef const float* f = <const float*>src
    if step == sizeof(float):
        for i in range(n):      # vectorizes (vcvtps2pd)
            dst[i] = f[i]
    else:
        for i in range(n):
            dst[i] = (<float*>(src + i * step))[0]


cdef inline const double* _operand(char* p, npy_intp step, npy_intp i, npy_intp b,
                                   double* buf, bint f32) noexcept nogil:
    # Entries i to i + b of an input: in place when contiguous float64, else gathered
    # (and widened from float32) into buf.
    if f32:
        _widen(p + i * step, step, buf, b)
        return buf
    if _contig(step):
        return <const double*>(p + i * step)
    _gather(p + i * step, step, buf, b)
    return buf


cdef inline void _scatter(const double* src, char* dst, npy_intp step,
                          npy_intp n) noexcept nogil:
    cdef npy_intp i
    for i in range(n):
        (<double*>(dst + i * step))[0] = src[i]


# What each loop's `data` points at: the kernel, its signature, whether the first input
# is float32, and which threads' threshold it takes.
ctypedef struct Kernel:
    void* k
    int arrays          # array inputs before out: 1 (x) or 2 (grad_output, output)
    bint alpha          # a trailing scalar alpha, read from the operand after the arrays
    bint f32            # the first input (x or grad_output) is float32: widened in blocks
    bint cheap          # no exp: the threads' threshold is twice the others' (kernels.pyx)


cdef inline void _call(const Kernel* kn, const double* a, const double* b, double* out,
                       npy_intp n, double alpha) noexcept nogil:
    if kn.arrays == 1 and not kn.alpha:
        (<unary_k>kn.k)(a, out, n)
    elif kn.arrays == 1:
        (<unary_param_k>kn.k)(a, out, n, alpha)
    elif not kn.alpha:
        (<binary_k>kn.k)(a, b, out, n)
    else:
        (<binary_param_k>kn.k)(a, b, out, n, alpha)


# One call of the loop, for the pieces that kernels.split_pieces hands to threads.
ctypedef struct Blocks:
    const Kernel* kn
    char** args
    npy_intp* steps
    double alpha        # a broadcast alpha; unused where it varies
    int varying         # -1, or which kernel's formula a per-element alpha goes through


cdef void _blocks(void* ctx, Py_ssize_t lo, Py_ssize_t m) noexcept nogil:
    # Entries lo to lo + m in blocks: the strided operands (broadcast ones, stride 0,
    # too) through stack buffers, the contiguous ones in place. An alpha that varies per
    # element (one per channel, say) takes the scalar formula the kernels loop over
    # (_math.pxd) in a loop that vectorizes: one kernel call per element was 90x slower
    # than a scalar alpha and slower than np.where; a strided loop in place of the
    # buffers, branching on the sign of x, 45x.
    cdef const Blocks* c = <const Blocks*>ctx
    cdef const Kernel* kn = c.kn
    cdef char** args = c.args
    cdef npy_intp* steps = c.steps
    cdef int na = kn.arrays, o = kn.arrays + kn.alpha
    cdef double ab[BLOCK]
    cdef double bb[BLOCK]
    cdef double alb[BLOCK]
    cdef const double* pa
    cdef const double* pb
    cdef const double* pal
    cdef double* po
    cdef npy_intp i = lo, j, b
    while i < lo + m:
        b = min(<npy_intp>BLOCK, lo + m - i)
        pa = _operand(args[0], steps[0], i, b, ab, kn.f32)
        pb = _operand(args[1], steps[1], i, b, bb, False) if na == 2 else NULL
        po = <double*>(args[o] + i * steps[o]) if _contig(steps[o]) else ab
        if c.varying < 0:
            _call(kn, pa, pb, po, b, c.alpha)
        else:
            pal = _operand(args[na], steps[na], i, b, alb, False)
            if c.varying == 0:
                for j in range(b):
                    po[j] = f_leaky_relu(pa[j], pal[j])
            elif c.varying == 1:
                for j in range(b):
                    po[j] = d_leaky_relu(pa[j], pal[j])
            else:
                for j in range(b):
                    po[j] = b_leaky_relu(pa[j], pb[j], pal[j])
        if po == ab:
            _scatter(ab, args[o] + i * steps[o], steps[o], b)
        i += b


cdef inline bint _overlap(char* a, npy_intp sa, npy_intp size, char* o, npy_intp so,
                          npy_intp n) noexcept nogil:
    # Whether n entries of `size` bytes at a (stride sa) and n float64 ones at o
    # (stride so) share any byte.
    cdef char* a0 = a + (0 if sa >= 0 else (n - 1) * sa)
    cdef char* o0 = o + (0 if so >= 0 else (n - 1) * so)
    cdef char* a1 = a0 + (n - 1) * (sa if sa >= 0 else -sa) + size
    cdef char* o1 = o0 + (n - 1) * (so if so >= 0 else -so) + sizeof(double)
    return n > 0 and a0 < o1 and o0 < a1


cdef inline bint _in_order_safe(char* a, npy_intp sa, char* o, npy_intp so) noexcept nogil:
    # For an out (o, stride so) that overlaps input a: whether the blocks may take it,
    # as NumPy itself passes it uncopied: strides of one sign, |sa| >= |so|, a at or past
    # o along them (exact aliasing included), where writing out[k] overwrites only
    # in[j], j <= k, which every path has read by then (a float32 input too: a nonzero
    # out stride is a multiple of 8 bytes, NumPy buffering a misaligned out). Not a
    # reduction's accumulator (so = 0, a = o) nor an accumulate's out one entry behind
    # its input (in[k + 1] is out[k]): those need element-by-element order.
    if so > 0:
        return sa >= so and a >= o
    if so < 0:
        return sa <= so and a <= o
    return False


cdef void _in_order(const Kernel* kn, char** args, npy_intp n,
                    npy_intp* steps) noexcept nogil:
    # One element at a time, each read just before it is written: reduce, accumulate
    # (on the two-input ufuncs) and overlaps NumPy leaves to the loop. Slow (a kernel
    # call per element) and rare.
    cdef int na = kn.arrays, o = kn.arrays + kn.alpha
    cdef npy_intp i
    cdef double alpha, a, b
    for i in range(n):
        alpha = (<double*>(args[na] + i * steps[na]))[0] if kn.alpha else 0.0
        _call(kn, _operand(args[0], steps[0], i, 1, &a, kn.f32),
              _operand(args[1], steps[1], i, 1, &b, False) if na == 2 else NULL,
              <double*>(args[o] + i * steps[o]), 1, alpha)


cdef void _loop(char** args, npy_intp* dims, npy_intp* steps, void* data) noexcept nogil:
    # args: the array inputs, then alpha if the kernel takes one, then out.
    cdef const Kernel* kn = <const Kernel*>data
    cdef int before = _flags()
    cdef int na = kn.arrays, o = kn.arrays + kn.alpha
    cdef npy_intp n = dims[0], i
    cdef Blocks c
    # ordered: an input lies under out so that only element order is right; apart: out
    # shares no byte with any input but the one it is exactly (threads may split it)
    cdef bint ordered = False, apart = steps[o] != 0 or n <= 1
    c.kn = kn
    c.args = args
    c.steps = steps
    c.alpha = (<double*>args[na])[0] if kn.alpha else 0.0
    c.varying = -1
    if kn.alpha and steps[na] != 0:
        # The three kernels that take alpha; a new one needs its formula in _blocks too.
        c.varying = (0 if kn.k == <void*>kernels.leaky_relu
                     else 1 if kn.k == <void*>kernels.leaky_relu_derivative else 2)
    for i in range(o):
        if n > 1 and _overlap(args[i], steps[i],
                              sizeof(float) if kn.f32 and i == 0 else sizeof(double),
                              args[o], steps[o], n):
            ordered = ordered or not _in_order_safe(args[i], steps[i], args[o], steps[o])
            apart = apart and args[i] == args[o] and steps[i] == steps[o]
    if ordered:
        _in_order(kn, args, n, steps)
    elif (c.varying < 0 and not kn.f32 and _contig(steps[0])
            and (na == 1 or _contig(steps[1])) and _contig(steps[o])):
        _call(kn, <const double*>args[0], <const double*>args[1], <double*>args[o], n,
              c.alpha)
    elif apart:         # blocks, on threads when large (as a contiguous call splits)
        kernels.split_pieces(_blocks, &c, n, kn.cheap)
    else:               # an out NumPy passes on its input as safe in order: one thread
        _blocks(&c, 0, n)
    _drop_flags(before)


# NumPy keeps these pointers (loops, data, types, name, doc): they live as long as the
# module. Each ufunc has two loops into float64: all inputs float64, and the first one
# (x, or grad_output beside the float64 output the forward returned) float32. The
# float32 loop widens its input block by block, where NumPy's casting would run the
# float64 loop on its 8192-entry buffers: on one thread, and taking 1.2-1.6x the same
# float64 call's time on one. The other inputs stay float64 only: reduce and accumulate
# of a float32 array would pick a loop with a float32 second input (NumPy leaves the
# accumulator's dtype open when matching) and then refuse it ("resolved dtypes are not
# compatible"), where they now run in float64. A float32 out gets no loop of its own:
# NumPy chooses loops by the inputs (and signature=), not by out.
cdef enum:
    MAX_UFUNCS = 16
    MAX_LOOPS = 2
    MAX_ARGS = 4

cdef PyUFuncGenericFunction _loops[MAX_LOOPS]
cdef int _k
for _k in range(MAX_LOOPS):
    _loops[_k] = <PyUFuncGenericFunction>_loop

cdef char _types[MAX_UFUNCS * MAX_LOOPS * MAX_ARGS]
cdef Kernel _kernels[MAX_UFUNCS * MAX_LOOPS]
cdef void* _data[MAX_UFUNCS * MAX_LOOPS]
cdef int _n_made = 0
_keepalive = []     # name and doc bytes: the ufunc keeps pointers into them


cdef object _make(void* kernel, int arrays, bint alpha, str name, str doc,
                  bint cheap=True):
    # Loop 0: all float64; loop 1: the first input float32. cheap: a kernel without exp.
    global _n_made
    cdef int nargs = arrays + alpha + 1, m, i
    cdef int first = _n_made * MAX_LOOPS
    cdef Kernel* kn
    assert _n_made < MAX_UFUNCS
    for m in range(MAX_LOOPS):
        kn = &_kernels[first + m]
        kn.k = kernel
        kn.arrays = arrays
        kn.alpha = alpha
        kn.f32 = m
        kn.cheap = cheap
        _data[first + m] = kn
        # packed, nargs per loop, as NumPy reads `types`; each ufunc owns a fixed
        # MAX_LOOPS * MAX_ARGS slots, whatever its nargs
        for i in range(nargs):
            _types[first * MAX_ARGS + m * nargs + i] = (
                NPY_FLOAT if m and i == 0 else NPY_DOUBLE)
    bname = name.encode()
    bdoc = doc.encode()
    _keepalive.extend((bname, bdoc))
    uf = cnp.PyUFunc_FromFuncAndData(_loops, &_data[first], &_types[first * MAX_ARGS],
                                     MAX_LOOPS, arrays + alpha, 1, cnp.PyUFunc_None, bname,
                                     bdoc, 0)
    _n_made += 1
    fastact_set_type_resolver(uf)
    return uf


_ALPHA = ("alpha : array_like\n"
          "    Slope for x <= 0. Broadcasts against the other inputs.\n")


def _doc(summary, formula, params, notes=""):
    return (f"{summary}\n\n{formula}\n\nParameters\n----------\n{params}"
            "out : ndarray, None, or tuple of ndarray, optional\n"
            "    Where to store the result (float64 or a same-kind dtype).\n"
            "**kwargs\n    Other ufunc keyword arguments (where, casting, dtype, ...).\n\n"
            "Returns\n-------\nndarray or scalar\n    float64; a NumPy scalar for scalar input.\n"
            + (f"\nNotes\n-----\n{notes}" if notes else ""))


_X = "x : array_like\n    Input values.\n"
_GY = ("grad_output : array_like\n    Gradient of the loss with respect to the output "
       "(x1: ufunc inputs are\n    positional).\n"
       "output : array_like\n    The saved forward output f(x) (x2).\n")

sigmoid = _make(<void*>kernels.sigmoid, 1, False, "sigmoid", _doc(
    "Logistic sigmoid, elementwise.", "sigmoid(x) = 1 / (1 + exp(-x))", _X,
    "Exact limits 0 and 1, NaN for NaN, and correct subnormal results for x in\n"
    "[-745, -709]; at most 2 ulp from the correctly rounded value.\n"), cheap=False)
tanh = _make(<void*>kernels.tanh, 1, False, "tanh", _doc(
    "Hyperbolic tangent, elementwise.", "tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x))",
    _X, "Full relative accuracy near 0; at most 2 ulp.\n"), cheap=False)
relu = _make(<void*>kernels.relu, 1, False, "relu", _doc(
    "Rectified linear unit, elementwise.", "relu(x) = max(x, 0)", _X,
    "relu(-0.0) is +0.0; NaN propagates.\n"))
sigmoid_derivative = _make(<void*>kernels.sigmoid_derivative, 1, False,
                           "sigmoid_derivative", _doc(
    "Derivative of the sigmoid at x, elementwise.",
    "sigmoid'(x) = sigmoid(x) (1 - sigmoid(x)) = exp(-|x|) / (1 + exp(-|x|))**2", _X,
    "Computed without the 1 - sigmoid cancellation, so the tails keep full relative\n"
    "accuracy (sigmoid_derivative(40) = 4.248e-18); at most 4 ulp.\n"), cheap=False)
tanh_derivative = _make(<void*>kernels.tanh_derivative, 1, False, "tanh_derivative",
                        _doc(
    "Derivative of tanh at x, elementwise.",
    "tanh'(x) = 1 - tanh(x)**2 = 4 exp(-2|x|) / (1 + exp(-2|x|))**2", _X,
    "Accurate in the tails where 1 - tanh**2 rounds to 0 (tanh_derivative(20) = 1.7e-17);\n"
    "at most 4 ulp.\n"), cheap=False)
relu_derivative = _make(<void*>kernels.relu_derivative, 1, False, "relu_derivative",
                        _doc(
    "Derivative of relu at x, elementwise.", "relu'(x) = 1 if x > 0 else 0", _X,
    "relu'(0) = 0 (PyTorch's convention); NaN propagates.\n"))
sigmoid_backward = _make(<void*>kernels.sigmoid_backward, 2, False,
                         "sigmoid_backward", _doc(
    "Backward pass of the sigmoid from its saved output, elementwise.",
    "sigmoid_backward(g, y) = g * y * (1 - y), with y = sigmoid(x)", _GY,
    "Where y (1 - y) is exactly 0 the result is 0, whatever g (no inf * 0 = NaN).\n"))
tanh_backward = _make(<void*>kernels.tanh_backward, 2, False, "tanh_backward", _doc(
    "Backward pass of tanh from its saved output, elementwise.",
    "tanh_backward(g, y) = g * (1 - y) * (1 + y), with y = tanh(x)", _GY,
    "Where (1 - y)(1 + y) is exactly 0 the result is 0, whatever g.\n"))
relu_backward = _make(<void*>kernels.relu_backward, 2, False, "relu_backward", _doc(
    "Backward pass of relu from its saved output, elementwise.",
    "relu_backward(g, y) = g if y > 0 else 0, with y = relu(x)", _GY,
    "Consistent with relu'(0) = 0; NaN in y propagates.\n"))
leaky_relu = _make(<void*>kernels.leaky_relu, 1, True, "leaky_relu", _doc(
    "Leaky rectified linear unit, elementwise.", "leaky_relu(x, alpha) = x if x > 0 else alpha * x",
    _X + _ALPHA))
leaky_relu_derivative = _make(<void*>kernels.leaky_relu_derivative, 1, True,
                               "leaky_relu_derivative", _doc(
    "Derivative of leaky_relu at x, elementwise.",
    "leaky_relu'(x, alpha) = 1 if x > 0 else alpha", _X + _ALPHA,
    "leaky_relu'(0) = alpha (PyTorch's convention); NaN propagates.\n"))
leaky_relu_backward = _make(<void*>kernels.leaky_relu_backward, 2, True,
                             "leaky_relu_backward", _doc(
    "Backward pass of leaky_relu from its saved output, elementwise.",
    "leaky_relu_backward(g, y, alpha) = g if y > 0 else alpha * g", _GY + _ALPHA,
    "Reading the branch from y assumes alpha > 0, as for any backward from the output.\n"))
