"""The softmax family: every axis form, special slices, Jacobian and backward products,
out= and errors."""

import numpy as np
import pytest
from numpy.exceptions import AxisError
from numpy.testing import assert_allclose, assert_array_equal

import fastact as fa
from _reference import (
    max_ulp_error, mp_long_row_exact, mp_softmax_and_log, np_log_softmax,
    np_log_softmax_backward, np_softmax, np_softmax_backward, np_softmax_jacobian,
)

RNG = np.random.default_rng(3)
X3 = RNG.normal(scale=4, size=(3, 4, 5))
AXES = [0, 1, 2, -1, -3, (0, 2), (2, 0), (0, 1, 2), None]


def _norm_axes(axis, ndim):
    return tuple(range(ndim)) if axis is None else axis


@pytest.mark.parametrize("axis", AXES)
def test_softmax_every_axis_form(axis):
    got = fa.softmax(X3, axis=axis)
    assert got.shape == X3.shape
    assert_allclose(got, np_softmax(X3, axis=_norm_axes(axis, 3)), rtol=1e-14)
    assert_allclose(got.sum(axis=axis), 1.0, rtol=1e-15)


@pytest.mark.parametrize("axis", AXES)
def test_log_softmax_every_axis_form(axis):
    got = fa.log_softmax(X3, axis=axis)
    assert_allclose(got, np_log_softmax(X3, axis=_norm_axes(axis, 3)), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("axis", AXES)
def test_jacobian_every_axis_form(axis):
    ax = _norm_axes(axis, 3)
    ax = tuple(sorted(np.atleast_1d(ax) % 3))
    keep = [a for a in range(3) if a not in ax]
    n = int(np.prod([X3.shape[a] for a in ax]))
    moved = np.transpose(X3, keep + list(ax)).reshape([X3.shape[a] for a in keep] + [n])
    got = fa.softmax_jacobian(X3, axis=axis)
    assert got.shape == moved.shape[:-1] + (n, n)
    assert_allclose(got, np_softmax_jacobian(moved), rtol=1e-13, atol=1e-17)


@pytest.mark.parametrize("axis", AXES)
def test_backward_is_jacobian_transpose_times_grad(axis):
    g = RNG.normal(size=X3.shape)
    s = fa.softmax(X3, axis=axis)
    got = fa.softmax_backward(g, s, axis=axis)
    ax = tuple(sorted(np.atleast_1d(_norm_axes(axis, 3)) % 3))
    keep = [a for a in range(3) if a not in ax]
    perm = keep + list(ax)
    n = int(np.prod([X3.shape[a] for a in ax]))
    moved = lambda a: np.transpose(a, perm).reshape(-1, n)  # noqa: E731
    jac = fa.softmax_jacobian(X3, axis=axis).reshape(-1, n, n)
    want = np.einsum("bij,bi->bj", jac, moved(g))
    assert_allclose(moved(got), want, rtol=1e-12, atol=1e-15)

    lgot = fa.log_softmax_backward(g, fa.log_softmax(X3, axis=axis), axis=axis)
    # d log_softmax_i / d x_j = delta_ij - s_j, so J^T g = g - s * sum(g)
    lwant = moved(g) - moved(s) * moved(g).sum(axis=1, keepdims=True)
    assert_allclose(moved(lgot), lwant, rtol=1e-12, atol=1e-15)


def test_backward_matches_finite_differences():
    x = RNG.normal(size=7)
    g = RNG.normal(size=7)
    h = 1e-6
    for fwd, bwd in [(fa.softmax, fa.softmax_backward), (fa.log_softmax, fa.log_softmax_backward)]:
        numeric = np.array([(g @ fwd(x + h * e) - g @ fwd(x - h * e)) / (2 * h)
                            for e in np.eye(7)])
        assert_allclose(bwd(g, fwd(x)), numeric, rtol=1e-6, atol=1e-9)


def test_jacobian_matches_finite_differences():
    x = RNG.normal(size=6)
    h = 1e-6
    numeric = np.array([(fa.softmax(x + h * e) - fa.softmax(x - h * e)) / (2 * h)
                        for e in np.eye(6)]).T
    assert_allclose(fa.softmax_jacobian(x), numeric, rtol=1e-6, atol=1e-10)


def test_special_slices():
    assert np.all(np.isfinite(fa.softmax([1000.0, 1001.0, 1002.0])))
    assert_allclose(fa.softmax([1000.0, 1001.0, 1002.0]), np_softmax([0.0, 1.0, 2.0]), rtol=1e-15)
    assert_array_equal(fa.log_softmax([1000.0, 1.0]), [0.0, -999.0])
    assert_array_equal(fa.softmax([np.inf, 1.0, np.inf, -np.inf]), [0.5, 0, 0.5, 0])
    assert_array_equal(fa.log_softmax([np.inf, 1.0, np.inf]), [-np.log(2), -np.inf, -np.log(2)])
    assert_array_equal(fa.softmax([np.inf]), [1.0])
    assert np.all(np.isnan(fa.softmax([-np.inf, -np.inf])))
    assert np.all(np.isnan(fa.log_softmax([-np.inf, -np.inf])))
    assert np.all(np.isnan(fa.softmax([1.0, np.nan, 2.0])))
    assert np.all(np.isnan(fa.log_softmax([np.nan, np.inf])))
    assert_array_equal(fa.softmax([-np.inf, 0.0]), [0.0, 1.0])
    assert_array_equal(fa.log_softmax([-np.inf, 0.0]), [-np.inf, 0.0])
    # a sole +inf entry: log 1 = +0, not -0, on the slice path (41 entries) as on the
    # short-row and column paths
    for x in (np.r_[np.inf, np.full(40, -np.inf)], np.array([np.inf, -np.inf])):
        for got in (fa.log_softmax(x), fa.log_softmax(x[:, None], axis=0)[:, 0]):
            assert got[0] == 0 and not np.signbit(got[0])
    assert_array_equal(fa.softmax([-1e308, 1e308]), [0.0, 1.0])
    assert_array_equal(fa.log_softmax([-1e308, 1e308]), [-np.inf, 0.0])
    assert_array_equal(fa.softmax([5e-324, 0.0]), [0.5, 0.5])
    # rows are independent
    x = np.array([[0.0, np.nan], [1.0, 1.0], [np.inf, 0.0]])
    got = fa.softmax(x)
    assert np.all(np.isnan(got[0]))
    assert_array_equal(got[1:], [[0.5, 0.5], [1.0, 0.0]])


def test_empty_and_zero_d():
    assert fa.softmax(np.empty(0)).shape == (0,)
    assert fa.log_softmax(np.empty((3, 0))).shape == (3, 0)
    assert fa.softmax(np.empty((0, 4))).shape == (0, 4)
    assert fa.softmax_jacobian(np.empty((2, 0))).shape == (2, 0, 0)
    assert fa.softmax_backward(np.empty((0, 3)), np.empty((0, 3))).shape == (0, 3)
    r = fa.softmax(3.0, axis=None)
    assert type(r) is np.float64 and r == 1.0
    assert fa.log_softmax(3.0, axis=None) == 0.0
    # A 0-d input is one slice, whose axis is 0 or -1 as in NumPy's reductions and
    # scipy.special.softmax.
    for axis in (-1, 0, (0,), (-1,)):
        r = fa.softmax(3.0, axis=axis)
        assert type(r) is np.float64 and r == 1.0
        assert fa.log_softmax(np.float64(-2.0), axis=axis) == 0.0
        assert fa.softmax_backward(2.0, 1.0, axis=axis) == 0.0
        assert fa.log_softmax_backward(2.0, 0.0, axis=axis) == 0.0
        assert fa.softmax_jacobian(3.0, axis=axis).shape == (1, 1)
    assert fa.softmax(np.array(np.inf)) == 1.0
    assert np.isnan(fa.softmax(np.array(-np.inf)))
    with pytest.raises(AxisError, match="^softmax: axis 1 is out of bounds for array of "
                                        "dimension 0$"):
        fa.softmax(3.0, axis=1)
    with pytest.raises(AxisError, match="^log_softmax: axis -2 is out of bounds for array "
                                        "of dimension 0$"):
        fa.log_softmax(3.0, axis=(0, -2))
    with pytest.raises(AxisError, match="^softmax_jacobian: axis 2 is out of bounds for "
                                        "array of dimension 2$"):
        fa.softmax_jacobian(np.ones((2, 2)), axis=2)


def test_casting_and_rejection():
    assert_array_equal(fa.softmax(np.arange(4)), fa.softmax(np.arange(4.0)))
    assert fa.softmax(np.arange(4, dtype=np.float32)).dtype == np.float64
    assert_array_equal(fa.softmax([True, False]), fa.softmax([1.0, 0.0]))
    for bad in (np.array([1j]), ["a", "b"], None, np.array([1], dtype=object)):
        with pytest.raises(TypeError, match=r"softmax: unsupported dtype"):
            fa.softmax(bad)
    with pytest.raises(TypeError,
                       match=r"softmax_backward: unsupported dtype complex128 for output"):
        fa.softmax_backward(np.ones(3), np.ones(3, dtype=complex))


def test_layouts_give_same_values():
    x = RNG.normal(size=(6, 9))
    want = fa.softmax(x)
    be = x.astype(">f8")
    ro = x.copy()
    ro.flags.writeable = False
    buf = np.zeros(x.size * 8 + 1, dtype=np.uint8)
    un = buf[1:].view(np.float64).reshape(x.shape)
    un[...] = x
    for variant in (be, ro, un, np.asfortranarray(x)):
        assert_array_equal(fa.softmax(variant), want)
    assert_array_equal(fa.softmax(x[:, ::-1]), want[:, ::-1])
    assert_array_equal(fa.softmax(x.T, axis=0), want.T)


@pytest.mark.parametrize("func", [fa.softmax, fa.log_softmax])
@pytest.mark.parametrize("axis", [-1, 0, (0, 1), None])
@pytest.mark.parametrize("shape", [(5, 6), (3, 700), (2, 40_000)])
def test_out_and_in_place(func, axis, shape):
    # Short slices, long ones (split into loops per block) and rows past LONG_ROW
    # (chunked): in place, each term is written over the entry it came from.
    x = RNG.normal(size=shape)
    want = func(x, axis=axis)
    out = np.empty_like(x)
    assert func(x, axis=axis, out=out) is out
    assert_array_equal(out, want)
    y = x.copy()
    assert func(y, axis=axis, out=y) is y
    assert_array_equal(y, want)
    fout = np.empty_like(x, order="F")
    func(x, axis=axis, out=fout)
    assert_array_equal(fout, want)
    out32 = np.empty_like(x, dtype=np.float32)
    func(x, axis=axis, out=out32)
    assert_array_equal(out32, want.astype(np.float32))


@pytest.mark.parametrize("axis", [-1, 0, None])
def test_a_raising_conversion_leaves_out_untouched(axis):
    # Inputs converted into the result: never into `out` through a cast that can raise
    # (a longdouble beyond float64 under np.errstate(over="raise")), and float32 widened
    # without raising, so that out is written whole or not at all.
    if np.finfo(np.longdouble).max <= np.finfo(np.float64).max:
        pytest.skip("longdouble is float64 here")
    big = np.ones((3, 40), dtype=np.longdouble)
    big[1, 7] = np.longdouble(2) ** 2000
    y = fa.softmax(np.ones((3, 40)))
    for call in (lambda out: fa.softmax(big, axis=axis, out=out),
                 lambda out: fa.log_softmax(big, axis=axis, out=out),
                 lambda out: fa.softmax_backward(big, y, axis=axis, out=out),
                 lambda out: fa.log_softmax_backward(big, y, axis=axis, out=out)):
        out = np.full((3, 40), 7.0)
        with np.errstate(over="raise"), pytest.raises(FloatingPointError):
            call(out)
        assert_array_equal(out, 7.0)
    x = np.ones((3, 40), dtype=np.float32)
    x.view(np.uint32)[1, 7] = 0x7FA00000             # a signalling NaN: whole or nothing
    out = np.full((3, 40), 7.0)
    try:
        with np.errstate(invalid="raise"):
            fa.softmax(x, axis=axis, out=out)
    except FloatingPointError:
        assert_array_equal(out, 7.0)
    else:
        with np.errstate(invalid="ignore"):
            assert_array_equal(out, fa.softmax(x.astype(np.float64), axis=axis))


@pytest.mark.parametrize("func", [fa.softmax, fa.log_softmax])
@pytest.mark.parametrize("shape, axis", [((4, 5, 300), a) for a in (-1, 0, 1, (0, 2), None)]
                         + [((700,), -1), ((700,), None)])
@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.float16, ">f8"])
def test_converted_input_normalised_in_its_result(func, shape, axis, dtype):
    # An input that needs converting is copied into the result (or out) and normalised
    # there in place: the values of the float64 call on the input converted in its own
    # layout (astype keeps it), into every kind of out, and over out's own bytes.
    x = RNG.normal(scale=5, size=shape).astype(dtype)
    for v in (x, x[..., ::-1], np.asfortranarray(x), x.T):
        w = func(v.astype(np.float64), axis=axis)
        got = func(v, axis=axis)
        assert got.dtype == np.float64
        assert_array_equal(got, w)
        for out in (np.empty(v.shape), np.empty(v.shape, order="F"),
                    np.empty(v.shape, dtype=np.float32)):
            assert func(v, axis=axis, out=out) is out
            assert_array_equal(out, w.astype(out.dtype))
    want = func(x.astype(np.float64), axis=axis)
    if np.dtype(dtype).itemsize < 8:
        # the input a view of out's own buffer, from its start and from further in: the
        # copy must not read entries it has already written (1-D copies run in order)
        for start in (0, 1, 3):
            buf = np.zeros(x.size * 2 + 8)
            v = buf.view(x.dtype)[start:start + x.size].reshape(x.shape)
            v[...] = x
            out = buf[:x.size].reshape(x.shape)
            assert func(v, axis=axis, out=out) is out
            assert_array_equal(out, want)
    # a strided float64 input whose entries out overlaps further on
    base = RNG.normal(scale=5, size=2 * x.size + 4)
    v = base[: 2 * x.size : 2].reshape(x.shape)
    want = func(v.copy(), axis=axis)
    out = base[2 : 2 + x.size].reshape(x.shape)
    assert func(v, axis=axis, out=out) is out
    assert_array_equal(out, want)


@pytest.mark.parametrize("func, forward", [(fa.softmax_backward, fa.softmax),
                                           (fa.log_softmax_backward, fa.log_softmax)])
@pytest.mark.parametrize("shape, axis", [((4, 5, 300), a) for a in (-1, 0, (0, 2), None)]
                         + [((700,), -1)])
@pytest.mark.parametrize("dtype", [np.float32, np.int16, ">f8"])
def test_converted_gradient_in_backward(func, forward, shape, axis, dtype):
    # A gradient that needs converting is copied into the result (or out) and the
    # backward kernels run there in place, unless the saved output lies on that memory:
    # the float64 call's values on copies taken before the call, in every case.
    y = forward(RNG.normal(scale=3, size=shape), axis=axis)
    g = RNG.normal(scale=4, size=shape).astype(dtype)
    def want(gv, yv):
        return func(np.array(gv, dtype=np.float64), np.array(yv), axis=axis)
    for gv in (g, g[..., ::-1], np.asfortranarray(g), np.broadcast_to(g[:1], shape)):
        w = want(gv, y)
        assert_array_equal(func(gv, y, axis=axis), w)
        for out in (np.empty(shape), np.empty(shape, order="F"),
                    np.empty(shape, dtype=np.float32)):
            assert func(gv, y, axis=axis, out=out) is out
            assert_array_equal(out, w.astype(out.dtype))
    # the gradient on out's own buffer, at three offsets
    for start in (0, 1, 3):
        buf = np.zeros(g.size * 2 + 8)
        gv = buf.view(g.dtype)[start:start + g.size].reshape(shape)
        gv[...] = g
        w = want(gv, y)
        out = buf[:g.size].reshape(shape)
        assert func(gv, y, axis=axis, out=out) is out
        assert_array_equal(out, w)
    # out is the saved output itself, or overlaps it further on
    w = want(g, y)
    y2 = y.copy()
    assert func(g, y2, axis=axis, out=y2) is y2
    assert_array_equal(y2, w)
    base = np.zeros(y.size + 5)
    yv = base[5:].reshape(shape)
    yv[...] = y
    out = base[:y.size].reshape(shape)
    assert func(g, yv, axis=axis, out=out) is out
    assert_array_equal(out, w)


def test_out_partially_overlapping_input():
    base = RNG.normal(size=12)
    x, out = base[:8], base[4:]
    want = fa.softmax(x.copy())
    fa.softmax(x, out=out)
    assert_array_equal(base[4:], want)


@pytest.mark.parametrize("func", [fa.softmax_backward, fa.log_softmax_backward])
def test_backward_out_overlapping_either_input(func):
    # The fast path (_rows.fast_backward) takes out only apart from both inputs or
    # exactly one of them; a partial overlap with either goes through a copy.
    g0, y0 = RNG.normal(size=12), fa.softmax(RNG.normal(size=12))
    want = func(g0[:8], y0[:8])

    def fresh():    # g and y as views of one buffer
        base = np.concatenate([g0, y0])
        return base, base[:8], base[12:20]

    for which in (0, 1):
        base, g, y = fresh()
        start = (0, 12)[which]
        out = base[start + 4:start + 12]           # overlaps g or y partially
        func(g, y, out=out)
        assert_array_equal(base[start + 4:start + 12], want)
        base, g, y = fresh()
        x = (g, y)[which]
        assert func(g, y, out=x) is x              # exactly one input: in place
        assert_array_equal(x, want)


def test_fast_path_boundaries():
    # What the C fast path declines (an axis that is not a plain int, a subclass, a 0-d
    # or empty array, out of another layout) takes the general path, with the same
    # result or error.
    x = RNG.normal(size=(3, 7))
    want = fa.softmax(x)
    assert_array_equal(fa.softmax(x, axis=np.int64(-1)), want)
    assert_array_equal(fa.softmax(x, axis=1), want)
    assert_array_equal(fa.softmax(x.view(np.matrix)), want)
    assert fa.softmax(np.float64(3.0), axis=None) == 1.0
    assert fa.softmax(np.empty((2, 0))).shape == (2, 0)
    out = np.empty((3, 7), order="F")
    assert fa.softmax(x, out=out) is out
    assert_array_equal(out, want)
    with pytest.raises(TypeError, match="not bool"):
        fa.softmax(x, axis=True)
    with pytest.raises(ValueError, match="shape"):
        fa.softmax(x, out=np.empty(21))
    with pytest.raises(ValueError, match="shape"):
        fa.softmax_backward(x, x, out=np.empty((7, 3)))
    assert_array_equal(fa.log_softmax_backward(x, x[:1]),
                       fa.log_softmax_backward(x, np.repeat(x[:1], 3, axis=0)))
    # softmax_jacobian's out: (..., n, n), apart from x, or the general path
    jac = fa.softmax_jacobian(np.asfortranarray(x))    # the general path
    assert_array_equal(fa.softmax_jacobian(x), jac)
    jout = np.empty((3, 7, 7))
    assert fa.softmax_jacobian(x, out=jout) is jout
    assert_array_equal(jout, jac)
    buf = np.zeros(3 * 7 * 7)
    buf[:21] = x.ravel()
    assert_array_equal(fa.softmax_jacobian(buf[:21].reshape(3, 7), out=buf.reshape(3, 7, 7)),
                       jac)
    with pytest.raises(ValueError, match=r"expected \(3, 7, 7\)"):
        fa.softmax_jacobian(x, out=np.empty((3, 7, 6)))


def test_backward_in_place_and_broadcast():
    g = RNG.normal(size=(4, 5))
    s = fa.softmax(RNG.normal(size=(4, 5)))
    want = fa.softmax_backward(g, s)
    g2 = g.copy()
    fa.softmax_backward(g2, s, out=g2)
    assert_array_equal(g2, want)
    # a gradient of ones is orthogonal to the simplex: the product is 0
    assert_allclose(fa.softmax_backward(1.0, s), 0.0, atol=1e-16)


def test_jacobian_out():
    x = RNG.normal(size=(2, 3))
    out = np.empty((2, 3, 3))
    assert fa.softmax_jacobian(x, out=out) is out
    assert_array_equal(out, fa.softmax_jacobian(x))
    with pytest.raises(ValueError, match=r"expected \(2, 3, 3\)"):
        fa.softmax_jacobian(x, out=np.empty((2, 3)))


def test_jacobian_out_overlapping_input():
    # x lies at the start of out's buffer: the (3, 3) blocks of row 0 cover row 1's input
    # before it is read unless x is copied first.
    x = RNG.normal(size=(2, 3))
    want = fa.softmax_jacobian(x)
    buf = np.zeros(18)
    buf[:6] = x.ravel()
    got = fa.softmax_jacobian(buf[:6].reshape(2, 3), out=buf.reshape(2, 3, 3))
    assert_array_equal(got, want)


@pytest.mark.parametrize("func", [fa.softmax, fa.log_softmax, fa.softmax_jacobian])
def test_errors_leave_out_untouched(func):
    x = RNG.normal(size=(3, 4))
    shape = (3, 4, 4) if func is fa.softmax_jacobian else (3, 4)
    out = np.full(shape, 7.0)
    with pytest.raises(AxisError):
        func(x, axis=2, out=out)
    with pytest.raises(AxisError):
        func(x, axis=(0, -3), out=out)
    with pytest.raises(ValueError):
        func(x, axis=(1, 1), out=out)
    with pytest.raises(TypeError, match="axis must be an int, a tuple of ints or None, "
                                        "not float"):
        func(x, axis=1.0, out=out)
    with pytest.raises(TypeError, match="not float"):
        func(x, axis=(0, 1.0), out=out)
    with pytest.raises(TypeError, match="not bool"):
        func(x, axis=True)
    with pytest.raises(TypeError, match="unsupported dtype complex128"):
        func(np.array([[1j]]), out=out)
    assert_array_equal(out, 7.0)
    with pytest.raises(ValueError, match="shape"):
        func(x, out=np.empty((4, 3)))
    with pytest.raises(TypeError, match="int64"):
        func(x, out=np.empty(shape, dtype=np.int64))
    with pytest.raises(TypeError, match="ndarray"):
        func(x, out=[0.0] * 12)
    ro = np.full(shape, 7.0)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        func(x, out=ro)


@pytest.mark.parametrize("func", [fa.softmax, fa.log_softmax])
def test_columns_special_values(func):
    # Over a non-last axis the column kernels run: each column is one slice.
    cols = np.array([
        [1.0, np.nan, np.inf, -np.inf, 1000.0, 0.0],
        [2.0, 1.0, 3.0, -np.inf, 1.0, -800.0],
        [3.0, 2.0, np.inf, -np.inf, -1e308, -np.inf],
    ])
    got = func(cols, axis=0)
    want = func(np.ascontiguousarray(cols.T), axis=-1).T
    assert_array_equal(np.isnan(got), np.isnan(want))
    assert_allclose(got, want, rtol=1e-15, atol=0)
    assert np.all(np.isnan(got[:, 1])) and np.all(np.isnan(got[:, 3]))
    if func is fa.softmax:
        assert_array_equal(got[:, 2], [0.5, 0.0, 0.5])
    else:
        assert_array_equal(got[:, 2], [-np.log(2), -np.inf, -np.log(2)])


@pytest.mark.parametrize("shape,axis", [((700, 3), 0), ((5, 300, 7), 1), ((4, 2, 600), 0)])
def test_columns_ulp(shape, axis):
    rng = np.random.default_rng(12)
    x = rng.normal(scale=6, size=shape)
    idx = [slice(None)] * len(shape)
    idx[axis] = 0
    x[tuple(idx)] += 40.0                           # a dominant entry in every slice
    got_s, got_l = fa.softmax(x, axis=axis), fa.log_softmax(x, axis=axis)
    moved = lambda a: np.moveaxis(a, axis, -1).reshape(-1, shape[axis])  # noqa: E731
    for row, s_row, l_row in list(zip(moved(x), moved(got_s), moved(got_l)))[:6]:
        s_exact, l_exact = mp_softmax_and_log(row)
        assert max_ulp_error(s_row, s_exact)[0] <= 4
        assert max_ulp_error(l_row, l_exact)[0] <= 4


def _short_rows(n, batch=70, seed=13):
    # A batch crossing the 64-row blocks of the short-row path: ordinary rows, a dominant
    # entry (T ~ 1e-20), all ties (T = n - 1), entries 700+ below the max, -inf entries.
    rng = np.random.default_rng(seed + n)
    x = rng.normal(scale=5, size=(batch, n))
    x[1, 0] += 60.0
    x[2] = 3.25
    x[3, 1:] = x[3, 0] - rng.uniform(700, 746, n - 1)
    x[4, 1:] = -np.inf
    return x


@pytest.mark.parametrize("n", [1, 2, 3, 10, 31, 32, 33])
def test_short_rows_ulp_and_consistency(n):
    # Rows below 32 entries are normalised a block at a time (_short_rows): each row is
    # within the bounds, and gives the same bits alone as in the batch.
    x = _short_rows(n)
    s, lg = fa.softmax(x), fa.log_softmax(x)
    for i in range(6):
        s_exact, l_exact = mp_softmax_and_log(x[i])
        finite = np.isfinite(x[i])
        assert max_ulp_error(s[i], s_exact)[0] <= 4, i
        assert max_ulp_error(lg[i][finite], [e for e, f in zip(l_exact, finite) if f])[0] <= 4
        assert np.all(lg[i][~finite] == -np.inf)
        assert_array_equal(fa.softmax(x[i]), s[i])
        assert_array_equal(fa.log_softmax(x[i]), lg[i])
    assert_allclose(s, np_softmax(x), rtol=1e-14, atol=1e-300)
    assert_allclose(lg[np.isfinite(lg)], np_log_softmax(x)[np.isfinite(lg)], rtol=1e-14,
                    atol=1e-15)


@pytest.mark.parametrize("n", [1, 3, 10, 33])
def test_short_rows_backward(n):
    x = _short_rows(n)
    g = np.random.default_rng(n).normal(size=x.shape)
    s, lg = fa.softmax(x), fa.log_softmax(x)
    assert_allclose(fa.softmax_backward(g, s), np_softmax_backward(g, s), rtol=1e-12,
                    atol=1e-15)
    assert_allclose(fa.log_softmax_backward(g, lg), np_log_softmax_backward(g, lg),
                    rtol=1e-12, atol=1e-15)
    for i in range(3):
        assert_array_equal(fa.softmax_backward(g[i], s[i]), fa.softmax_backward(g, s)[i])
    inplace = g.copy()
    fa.softmax_backward(inplace, s, out=inplace)
    assert_array_equal(inplace, fa.softmax_backward(g, s))


@pytest.mark.parametrize("special", [-np.inf, np.nan, 2500.0, -2500.0])
def test_a_special_row_leaves_the_others_alone(special):
    # Rows and columns are normalised in blocks; a row whose max takes the other exp
    # reduction (NaN, all -inf, |max| > 2000) must not change its neighbours' bits.
    x = np.random.default_rng(21).normal(scale=3, size=(64, 10))
    alone = [fa.softmax(r) for r in x], [fa.log_softmax(r) for r in x]
    x[5] = special if np.isnan(special) or np.isinf(special) else special + x[5]
    for func, want in zip((fa.softmax, fa.log_softmax), alone):
        got = func(x)
        cols = func(np.ascontiguousarray(x.T), axis=0).T
        for i in range(64):
            if i != 5:
                assert_array_equal(got[i], want[i])
                assert_array_equal(cols[i], want[i])
        assert_array_equal(got[5], func(x[5]))


def test_log_softmax_of_a_dominant_entry_sums_the_rest_in_full():
    # Every other term below 2^-52 of the max's: log_softmax(max) = -T needs T to full
    # relative accuracy (a biased compensated sum lost it: 6 ulp on this row).
    x = np.array([0.3, -42.2, -40.300000000000004, -48.5, -41.6, -44.900000000000006,
                  -40.300000000000004, -43.2, -44.300000000000004, -48.300000000000004,
                  -45.7, -47.800000000000004, -42.800000000000004, -49.400000000000006,
                  -44.900000000000006, -43.7])
    rng = np.random.default_rng(22)
    cols = np.r_[0.0, rng.uniform(-50, -40, 199)][:, None] + np.zeros((1, 3))
    for row, got in [(x, fa.log_softmax(x)), (np.r_[x, -np.inf * np.ones(300)], None),
                     (cols[:, 0], fa.log_softmax(cols, axis=0)[:, 0])]:
        got = fa.log_softmax(row) if got is None else got
        finite = np.isfinite(row)
        _, l_exact = mp_softmax_and_log(row[finite])
        assert max_ulp_error(got[finite], l_exact)[0] <= 4


@pytest.mark.parametrize("case", ["spread", "dominant", "ties", "far"])
def test_long_rows_ulp(case):
    # Rows over LONG_ROW = 32768 entries are summed in chunks that threads can share.
    rng = np.random.default_rng(23)
    pattern = rng.normal(scale=4, size=997)
    top = {"spread": pattern.max() + 1.0, "dominant": 45.0, "ties": pattern.max(),
           "far": pattern.max() + 1.0}[case]
    x = np.r_[np.tile(pattern, 101), top]             # 100,698 entries, 4 chunks
    if case == "far":
        x += 3000.0                                     # |max| > 2000: exp(x - max)
    first, s_exact, l_exact = mp_long_row_exact(x)
    s, ls = fa.softmax(x), fa.log_softmax(x)
    assert max_ulp_error(s[first], s_exact)[0] <= 4
    assert max_ulp_error(ls[first], l_exact)[0] <= 4
    # equal values, equal results, across chunks
    assert_array_equal(s[:-1].reshape(101, 997), np.broadcast_to(s[:997], (101, 997)))
    assert_array_equal(ls[:-1].reshape(101, 997), np.broadcast_to(ls[:997], (101, 997)))
    # a long row gives the same bits alone and in a batch
    assert_array_equal(fa.softmax(np.stack([x, x[::-1]]))[0], s)
    assert_array_equal(fa.log_softmax(np.stack([x[::-1], x]))[1], ls)


@pytest.mark.parametrize("special", ["nan", "pos_inf", "inf_chunk", "all_inf"])
def test_long_rows_special_values(special, threads):
    # The chunk maxima are folded into the row's kind: a NaN anywhere, +inf entries in two
    # chunks, a chunk of -inf among finite ones, a row of -inf; on one thread and on two.
    x = np.random.default_rng(24).normal(size=100_000)
    if special == "nan":
        x[70_000] = np.nan
    elif special == "pos_inf":
        x[[5, 70_000]] = np.inf
    elif special == "inf_chunk":
        x[32_768:65_536] = -np.inf
    else:
        x[:] = -np.inf
    results = []
    for nt in (1, 2):
        fa.set_num_threads(nt)
        results.append((fa.softmax(x), fa.log_softmax(x)))
    (s, ls), (s2, ls2) = results
    assert_array_equal(s, s2)
    assert_array_equal(ls, ls2)
    if special in ("nan", "all_inf"):
        assert np.isnan(s).all() and np.isnan(ls).all()
    elif special == "pos_inf":
        assert_array_equal(np.flatnonzero(s), [5, 70_000])
        assert s[5] == s[70_000] == 0.5 and ls[5] == -np.log(2.0)
        assert (ls[s == 0] == -np.inf).all()
    else:
        assert (s[32_768:65_536] == 0).all() and (ls[32_768:65_536] == -np.inf).all()
        finite = np.isfinite(x)
        assert_allclose(s[finite], np_softmax(x[finite]), rtol=1e-13)
        assert_allclose(ls[finite], np_log_softmax(x[finite]), rtol=1e-13)


@pytest.mark.parametrize("n", [5, 31, 255, 256, 1000, 1003])
def test_maximal_entries_counted_in_every_lane(n):
    # The max pass counts the entries equal to the max, lane by lane and in the tail;
    # a miscount would move every output by a whole term.
    rng = np.random.default_rng(n)
    x = rng.normal(scale=2, size=n)
    top = x.max() + 1.0
    hits = rng.choice(n, size=min(n, 7), replace=False)
    x[hits] = top
    x[-1] = top                                      # one in the tail
    if n > 40:
        x[:3] = 0.0
        x[3:6] = -0.0
    rows = np.stack([x, np.full(n, -0.0), x[::-1]])
    rows[1, ::2] = 0.0                               # +0 and -0: all maximal
    for func in (fa.softmax, fa.log_softmax):
        got = func(rows)
        assert_array_equal(got[0], func(x))
        for row, g in zip(rows, got):
            s_exact, l_exact = mp_softmax_and_log(row)
            assert max_ulp_error(g, s_exact if func is fa.softmax else l_exact)[0] <= 4
        cols = func(np.ascontiguousarray(rows.T), axis=0).T
        np.testing.assert_array_max_ulp(cols[1], got[1], 1)    # libm log1p vs vlog1p


def test_log_softmax_of_a_sole_negative_zero_max_is_plus_zero():
    # log 1 = +0: x - (m + lse) with x = m = -0.0 and lse = 0 would give -0.0.
    # Short slices take the column kernel, from 32 entries on the row kernel.
    for x in (np.array([-0.0]), np.array([-0.0, -1000.0]), np.r_[-0.0, np.full(40, -1e3)],
              np.r_[-0.0, np.full(300, -np.inf)]):
        for got in (fa.log_softmax(x), fa.log_softmax(x[:, None], axis=0)[:, 0],
                    fa.log_softmax(np.tile(x, (3, 1)))[1]):
            assert got[0] == 0.0 and not np.signbit(got[0])


def test_long_rows_backward():
    # Rows over LONG_ROW entries: the compensated sums are taken per chunk and folded;
    # against an exact (mpmath) dot product and sum, and alone == in a batch.
    import mpmath
    rng = np.random.default_rng(25)
    x = rng.normal(scale=3, size=70_001)
    g = rng.normal(size=x.size)
    s, lg = fa.softmax(x), fa.log_softmax(x)
    g[123] = float(mpmath.fsum(mpmath.mpf(float(a)) * mpmath.mpf(float(b))
                               for a, b in zip(g, s)))     # g_i - dot cancels there
    got, got_log = fa.softmax_backward(g, s), fa.log_softmax_backward(g, lg)
    idx = np.r_[123, rng.choice(x.size, 300, replace=False)]
    dot = mpmath.fsum(mpmath.mpf(float(a)) * mpmath.mpf(float(b)) for a, b in zip(g, s))
    want = [mpmath.mpf(float(s[i])) * (mpmath.mpf(float(g[i])) - dot) for i in idx]
    assert max_ulp_error(got[idx], want)[0] <= 4
    total = mpmath.fsum(mpmath.mpf(float(a)) for a in g)
    want_log = [mpmath.mpf(float(g[i])) - mpmath.exp(mpmath.mpf(float(lg[i]))) * total
                for i in idx]
    assert_allclose(got_log[idx], [float(v) for v in want_log], rtol=1e-13, atol=1e-15)
    assert_array_equal(fa.softmax_backward(np.stack([g, g[::-1]]), np.stack([s, s]))[0], got)
    assert_array_equal(fa.log_softmax_backward(np.stack([g, g]), np.stack([lg, lg]))[1],
                       got_log)


@pytest.mark.parametrize("n", [32_768, 32_769, 65_536])
def test_long_row_boundaries_backward_in_place(n):
    # At and just past LONG_ROW the chunked path takes over; in place (out=g, out=y)
    # gives the same bits as a fresh output, and the formula holds.
    rng = np.random.default_rng(n)
    x, g = rng.normal(scale=3, size=n), rng.normal(size=n)
    s, lg = fa.softmax(x), fa.log_softmax(x)
    got, got_log = fa.softmax_backward(g, s), fa.log_softmax_backward(g, lg)
    assert_allclose(got, s * (g - (g * s).sum()), rtol=1e-12, atol=1e-15)
    assert_allclose(got_log, g - np.exp(lg) * g.sum(), rtol=1e-12, atol=1e-15)
    for func, y, want in ((fa.softmax_backward, s, got), (fa.log_softmax_backward, lg, got_log)):
        gi, yi = g.copy(), y.copy()
        assert_array_equal(func(gi, y, out=gi), want)
        assert_array_equal(func(g, yi, out=yi), want)


@pytest.mark.parametrize("shape", [(3,), (300,), (4096, 10), (20, 1000), (1, 70_000),
                                   (2, 70_000)])
def test_softmax_backward_nonfinite_gradient_where_s_is_zero(shape, threads):
    # Where s_j = 0 the Jacobian's row and column j are 0: an inf or NaN gradient there
    # gives 0 at j and leaves the rest as a gradient of 0 there would (no inf * 0 = NaN),
    # on the slice, short-row, long-row and team paths, fresh and in place.
    rng = np.random.default_rng(len(shape) * shape[-1])
    s = fa.softmax(rng.normal(scale=400, size=shape))
    zero = s == 0
    assert zero.any() and not zero.all(axis=-1).any()
    g = rng.normal(size=shape)
    bad, clean = g.copy(), g.copy()
    bad[zero] = np.inf
    bad.reshape(-1, shape[-1])[0, zero.reshape(-1, shape[-1])[0]] = np.nan
    clean[zero] = 0.0
    for n_threads in (1, 2):
        fa.set_num_threads(n_threads)
        want = fa.softmax_backward(clean, s)
        assert not np.isnan(want).any()
        assert_array_equal(fa.softmax_backward(bad, s), want)
        gi = bad.copy()
        assert_array_equal(fa.softmax_backward(gi, s, out=gi), want)
    # an inf gradient where s_j > 0 still reaches every entry, as in the formula
    g[..., 0] = np.inf
    assert not np.isfinite(fa.softmax_backward(g, np.full(shape, 1.0 / shape[-1]))).any()
