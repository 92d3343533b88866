"""NumPy habits of the elementwise functions: they are ufuncs, so broadcasting, out=,
where=, casting, scalars, layouts, errors and pickling behave as for np.tanh."""

import pickle
import threading

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastact as fa

UNARY = [
    fa.sigmoid, fa.tanh, fa.relu,
    fa.sigmoid_derivative, fa.tanh_derivative, fa.relu_derivative,
]
BINARY = [fa.sigmoid_backward, fa.tanh_backward, fa.relu_backward]
LEAKY = [fa.leaky_relu, fa.leaky_relu_derivative]
ALL_PUBLIC = [getattr(fa, name) for name in fa.__all__]
RNG = np.random.default_rng(7)


def test_elementwise_are_ufuncs():
    # float64 in, and the first input float32 (widened in the loop), float64 out
    for f in UNARY + BINARY + [g.ufunc for g in LEAKY + [fa.leaky_relu_backward]]:
        assert isinstance(f, np.ufunc)
        assert f.nout == 1
        assert f.types == [f.nin * "d" + "->d", "f" + (f.nin - 1) * "d" + "->d"]


@pytest.mark.parametrize("f", UNARY + LEAKY)
def test_scalars_give_numpy_scalars(f):
    for v in (0.5, 2, True, np.float32(0.5), np.int8(-3)):
        r = f(v)
        assert type(r) is np.float64
        assert r == f(np.array([v], dtype=np.float64))[0]


@pytest.mark.parametrize("f", UNARY + LEAKY)
def test_shapes_and_layouts(f):
    x = RNG.normal(scale=3, size=(4, 5, 6))
    want = f(x.copy())
    assert f(x).shape == (4, 5, 6)
    assert f(np.empty((0, 3))).shape == (0, 3)
    assert f(np.array(1.5)).shape == ()
    assert_array_equal(f(x.T), want.T)
    assert_array_equal(f(x[:, ::-1, ::2]), want[:, ::-1, ::2])
    assert_array_equal(f(np.asfortranarray(x)), want)
    # big-endian, unaligned and read-only inputs
    assert_array_equal(f(x.astype(">f8")), want)
    buf = np.zeros(x.size * 8 + 1, dtype=np.uint8)
    unaligned = buf[1:].view(np.float64).reshape(x.shape)
    unaligned[...] = x
    assert not unaligned.flags.aligned
    assert_array_equal(f(unaligned), want)
    ro = x.copy()
    ro.flags.writeable = False
    assert_array_equal(f(ro), want)
    # a long strided input exercises the blocked gather path
    long = RNG.normal(size=3001)
    assert_array_equal(f(long[::3]), f(long[::3].copy()))


@pytest.mark.parametrize("f", UNARY + LEAKY)
def test_casting(f):
    for dtype in (np.int64, np.int8, np.uint16, np.bool_, np.float32, np.float16):
        x = np.arange(-3, 4).astype(dtype)
        r = f(x)
        assert r.dtype == np.float64
        assert_array_equal(r, f(x.astype(np.float64)))
    out32 = np.empty(7, dtype=np.float32)
    f(np.linspace(-3, 3, 7), out=out32)
    assert_array_equal(out32, f(np.linspace(-3, 3, 7)).astype(np.float32))


@pytest.mark.parametrize("f", UNARY + LEAKY)
@pytest.mark.parametrize("n", [50, 1300])
def test_out_where_and_in_place(f, n):
    # 1300: several of the blocks that the exp-based kernels split into loops.
    x = RNG.normal(scale=4, size=n)
    want = f(x)
    out = np.empty_like(x)
    assert f(x, out=out) is out
    assert_array_equal(out, want)
    y = x.copy()
    f(y, out=y)
    assert_array_equal(y, want)
    mask = x > 0
    out = np.full_like(x, -7.0)
    f(x, out=out, where=mask)
    assert_array_equal(out, np.where(mask, want, -7.0))


@pytest.mark.parametrize("f", BINARY + [fa.leaky_relu_backward])
def test_backward_broadcasting_and_in_place(f):
    g = RNG.normal(size=(3, 1))
    y = RNG.uniform(-0.9, 0.9, size=(1, 4))
    r = f(g, y)
    assert r.shape == (3, 4)
    assert_array_equal(r, f(np.broadcast_to(g, (3, 4)).copy(), np.broadcast_to(y, (3, 4)).copy()))
    g2 = np.broadcast_to(g, (3, 4)).copy()
    f(g2, y, out=g2)                 # in place into the gradient, as a training loop does
    assert_array_equal(g2, r)


@pytest.mark.parametrize("f", BINARY + [fa.leaky_relu.ufunc, fa.leaky_relu_derivative.ufunc])
@pytest.mark.parametrize("n", [5, 1300, 100_001])
def test_reduce_and_accumulate_chain_in_order(f, n):
    # NumPy runs a two-input ufunc's reduce and accumulate through its loop with out on
    # an input (a stride-0 accumulator; out one entry behind its input): each element
    # must see the previous result, as a chain of calls gives. Blocks through buffers
    # (the strided and per-element alpha paths) and threads broke the chain.
    x = RNG.uniform(-1.5, 1.5, n)
    acc = np.empty(n)
    acc[0] = x[0]
    for k in range(1, n):
        acc[k] = f(acc[k - 1], x[k])
    assert_array_equal(f.accumulate(x), acc)
    assert_array_equal(f.reduce(x), acc[-1])
    assert_array_equal(f.reduce(x[::-1]), f.accumulate(x[::-1])[-1])
    two = np.stack([x, x[::-1]])                     # along an axis of stride 2 entries
    assert_array_equal(f.accumulate(two, axis=0), np.stack([x, f(x, x[::-1])]))
    assert_array_equal(f.reduce(two.T.copy(), axis=1), f(x, x[::-1]))


@pytest.mark.parametrize("f", UNARY + BINARY + LEAKY + [fa.leaky_relu_backward])
@pytest.mark.parametrize("n", [1, 255, 257, 1300, 200_001])
def test_float32_first_input(f, n):
    # The float32 loop widens x (or grad_output) block by block, through the blocks'
    # buffers and on threads when large: every layout gives the float64 loop's bits on
    # the widened input. 255/257: around a block; 200_001: above the threads' threshold.
    nin = f.nin if isinstance(f, np.ufunc) else f.ufunc.nin - 1
    x = RNG.uniform(-30, 30, 2 * n).astype(np.float32)
    x[::7] = np.float32(0.0)
    others = [RNG.uniform(-0.9, 0.9, 2 * n) for _ in range(nin - 1)]
    def both(x32, *rest, **kw):
        # f on the float32 input, and the float64 loop on its widened copy
        return f(x32, *rest, **kw), f(x32.astype(np.float64), *rest)
    for sl in (slice(0, n), slice(1, 2 * n, 2), slice(n - 1 if n > 1 else None, None, -1)):
        got, want = both(x[sl], *[o[sl] for o in others])
        assert got.dtype == np.float64
        assert_array_equal(got, want)
    rest = [o[:n] for o in others]
    out = np.full(2 * n, 5.0)
    got, want = both(x[:n], *rest, out=out[::2])             # a strided out
    assert_array_equal(out[::2], want)
    assert_array_equal(out[1::2], 5.0)
    out32 = np.empty(n, np.float32)                           # cast on the way out
    assert_array_equal(f(x[:n], *rest, out=out32), want.astype(np.float32))
    got, want = both(x[:n].astype(">f4"), *rest)              # byte-swapped, by NumPy
    assert_array_equal(got, want)
    if isinstance(f, np.ufunc) and f.nin == 2:                # grad_output broadcast
        got, want = both(x[:1], *rest)
        assert_array_equal(got, want)
    # an out on the float32 input's own bytes: each float64 entry over the input entry
    # of the same index (exact, as NumPy passes it), or a shift; safe-in-order or copied
    for start, step in ((0, 2), (1, 2), (0, 1), (3, 1), (2, 3)):
        buf = RNG.uniform(-30, 30, 6 * n + 8).astype(np.float32).view(np.float64)
        x32 = buf.view(np.float32)[start::step][:n]
        want = f(x32.astype(np.float64), *rest)
        f(x32, *rest, out=buf[:n])
        assert_array_equal(buf[:n], want)


@pytest.mark.parametrize("f", BINARY + [g.ufunc for g in LEAKY])
def test_float32_reduce_and_accumulate(f):
    # The float32 loop takes only the first input as float32, so NumPy's reduce and
    # accumulate of a float32 array (which would refuse a loop whose inputs and output
    # differ in dtype) do not match it and run in float64, as before it existed.
    x = RNG.uniform(-1.5, 1.5, 1300).astype(np.float32)
    assert_array_equal(f.accumulate(x), f.accumulate(x.astype(np.float64)))
    assert_array_equal(f.reduce(x), f.reduce(x.astype(np.float64)))


@pytest.mark.parametrize("f", UNARY + BINARY + LEAKY)
@pytest.mark.parametrize("bad", [np.array([1j]), np.array(["a"]), np.array([None]), None,
                                 "text", np.array([1], dtype="M8[s]")])
def test_bad_dtype_is_type_error_naming_function_and_dtype(f, bad):
    args = (bad,) * (f.nin if isinstance(f, np.ufunc) else 1)
    name = f.__name__
    with pytest.raises(TypeError, match=rf"{name}: unsupported dtype \S+ for input 1"):
        f(*args)


@pytest.mark.parametrize("f", UNARY)
def test_bad_out(f):
    x = np.linspace(-1, 1, 5)
    out = np.full(4, 3.0)
    with pytest.raises(ValueError):
        f(x, out=out)
    out_int = np.full(5, 3)
    with pytest.raises(TypeError):
        f(x, out=out_int)
    assert_array_equal(out_int, 3)
    ro = np.full(5, 3.0)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        f(x, out=ro)
    assert_array_equal(ro, 3.0)
    with pytest.raises(TypeError):
        f(np.array([1j, 2j]), out=np.full(2, 3.0))


def test_dtype_argument():
    assert fa.sigmoid(np.arange(3), dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError, match="float64"):
        fa.sigmoid(np.ones(3), dtype=np.float32)


def test_array_ufunc_dispatch():
    class Tagged(np.ndarray):
        pass

    class Intercept:
        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
            return ("intercepted", ufunc.__name__, method)

    assert isinstance(fa.tanh(np.ones(3).view(Tagged)), Tagged)
    assert fa.sigmoid(Intercept()) == ("intercepted", "sigmoid", "__call__")
    assert fa.leaky_relu(Intercept()) == ("intercepted", "leaky_relu", "__call__")


@pytest.mark.parametrize("f", ALL_PUBLIC)
def test_pickle_by_reference(f):
    assert pickle.loads(pickle.dumps(f)) is f


def test_raw_leaky_ufuncs_pickle():
    for f in LEAKY + [fa.leaky_relu_backward]:
        assert pickle.loads(pickle.dumps(f.ufunc)) is f.ufunc


def test_threads_give_serial_results():
    x = RNG.normal(size=(64, 1000))
    funcs = UNARY + [fa.leaky_relu, fa.softmax, fa.log_softmax]
    want = [f(x) for f in funcs]
    results = [None] * 8
    barrier = threading.Barrier(8)

    def work(k):
        barrier.wait()
        results[k] = [[f(x) for f in funcs] for _ in range(5)]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for per_thread in results:
        for run in per_thread:
            for got, w in zip(run, want):
                assert_array_equal(got, w)
