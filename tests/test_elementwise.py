"""Elementwise activations, derivatives and backward products: values, conventions and
special inputs against the pure-NumPy references."""

import numbers

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastact as fa
from _reference import ALPHA, DERIVATIVE, FORWARD, SPECIAL

NAMES = ["sigmoid", "tanh", "relu", "leaky_relu"]
RNG = np.random.default_rng(42)
BODY = np.concatenate([RNG.normal(scale=5, size=500), np.linspace(-30, 30, 301)])


@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_reference(name):
    assert_allclose(getattr(fa, name)(BODY), FORWARD[name](BODY), rtol=1e-14, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_reference(name):
    got = getattr(fa, f"{name}_derivative")(BODY)
    want = DERIVATIVE[name](BODY)
    # The textbook s(1 - s) and 1 - tanh^2 lose relative accuracy where they are small.
    keep = want > 1e-4
    assert_allclose(got[keep], want[keep], rtol=1e-10, atol=0)
    assert_allclose(got, want, rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_special_values_no_warning(name):
    # pytest turns every warning into an error (pyproject filterwarnings), so these calls
    # also check that no RuntimeWarning is raised.
    for func in (getattr(fa, name), getattr(fa, f"{name}_derivative")):
        y = func(SPECIAL)
        assert y.dtype == np.float64
        assert_array_equal(np.isnan(y), np.isnan(SPECIAL))
    # backward from every output the forward can produce, times special gradients
    g = np.array([1.0, -np.inf, np.inf, np.nan, 0.0, 1e308, -1e308, 5e-324])
    y = getattr(fa, name)(SPECIAL)
    r = getattr(fa, f"{name}_backward")(g[:, None], y[None, :])
    assert_array_equal(np.isnan(r), np.isnan(g[:, None]) & (r != 0) | np.isnan(y[None, :]))


@pytest.mark.parametrize("name", NAMES)
def test_special_values_raise_nothing(name):
    # Under errstate(all="raise") as scipy.special.expit and np.tanh: e^-2|x| underflows
    # inside tanh(1e3) = 1, a select computes x * x for an unused branch; none of it is an
    # error of the result. Contiguous, strided and long (vector loop) inputs.
    x = np.concatenate([SPECIAL, [-740.0, 1e-200, 1e-100, 2e-100, 1e200]])
    args = (ALPHA,) if name == "leaky_relu" else ()
    with np.errstate(all="raise"):
        for v in (x, x[::2], np.repeat(x, 9)):
            y = getattr(fa, name)(v, *args)
            getattr(fa, f"{name}_derivative")(v, *args)
            getattr(fa, f"{name}_backward")(np.ones_like(v), y, *args)


def test_sigmoid_limits_and_subnormals():
    assert fa.sigmoid(np.inf) == 1.0
    assert fa.sigmoid(-np.inf) == 0.0
    assert fa.sigmoid(0.0) == 0.5
    assert fa.sigmoid(-0.0) == 0.5
    assert fa.sigmoid(40.0) == 1.0
    assert fa.sigmoid(-800.0) == 0.0
    assert np.isnan(fa.sigmoid(np.nan))
    # True values are subnormal for x in [-745, -709]: not flushed to 0.
    x = np.array([-709.5, -720.0, -740.0, -745.0])
    y = fa.sigmoid(x)
    assert np.all((y > 0) & (y < np.finfo(np.float64).smallest_normal))
    assert_allclose(y, np.exp(x), rtol=1e-12)
    assert fa.sigmoid(-745.0) == 5e-324


def test_tanh_near_zero_full_relative_accuracy():
    x = np.array([1e-300, 1e-20, 1e-10, -1e-8, 5e-324])
    assert_array_equal(fa.tanh(x), x)   # tanh(x) = x - x^3/3: x itself to double precision
    # The article's 2*sigmoid(2x) - 1 loses every digit here.
    assert 2 * fa.sigmoid(2e-20) - 1 == 0.0
    assert fa.tanh(-0.0) == 0.0 and np.signbit(fa.tanh(-0.0))


def test_derivative_tails():
    assert_allclose(fa.sigmoid_derivative(40.0), 4.248354255291589e-18, rtol=1e-15)
    assert_allclose(fa.sigmoid_derivative(-40.0), 4.248354255291589e-18, rtol=1e-15)
    assert_allclose(fa.tanh_derivative(20.0), 1.6993417021166355e-17, rtol=1e-15)
    assert fa.sigmoid_derivative(np.inf) == 0.0
    assert fa.tanh_derivative(-np.inf) == 0.0
    assert fa.sigmoid_derivative(0.0) == 0.25
    assert fa.tanh_derivative(0.0) == 1.0
    # Subnormal tails, not flushed.
    assert 0 < fa.sigmoid_derivative(-740.0) < 1e-320
    assert 0 < fa.tanh_derivative(371.0) < 1e-320


def test_relu_conventions():
    x = np.array([-2.0, -0.0, 0.0, 3.0, np.nan, np.inf, -np.inf])
    assert_array_equal(fa.relu(x), [0, 0, 0, 3, np.nan, np.inf, 0])
    assert not np.signbit(fa.relu(-0.0))
    assert_array_equal(fa.relu_derivative(x), [0, 0, 0, 1, np.nan, 1, 0])
    assert fa.relu_derivative(0.0) == 0.0           # PyTorch's convention


def test_leaky_relu_conventions():
    x = np.array([-2.0, 0.0, 3.0, np.nan, -np.inf])
    assert_array_equal(fa.leaky_relu(x), [-0.02, 0, 3, np.nan, -np.inf])
    assert_array_equal(fa.leaky_relu(x, 0.2), [-0.4, 0, 3, np.nan, -np.inf])
    assert_array_equal(fa.leaky_relu_derivative(x), [ALPHA, ALPHA, 1, np.nan, ALPHA])
    assert fa.leaky_relu_derivative(0.0, 0.3) == 0.3  # PyTorch's convention
    # alpha broadcasts like any ufunc input
    alpha = np.array([[0.1], [0.2]])
    assert_array_equal(fa.leaky_relu(np.array([-1.0, 1.0]), alpha), [[-0.1, 1], [-0.2, 1]])
    assert_array_equal(fa.leaky_relu(x=np.array([-1.0]), alpha=0.5), [-0.5])


@pytest.mark.parametrize("alpha", [0.01, 0.2, -3.5, 0.0, -0.0, np.nan, np.inf, 5e-324])
def test_leaky_float_alpha_is_the_ufuncs(alpha):
    # The wrappers hand a Python float alpha to the ufunc as a 0-d float64 array (the
    # default one cached): the same values, types and scalar results as the float itself.
    x = np.array([-2.5, -0.0, 0.0, 3.0, np.nan, -np.inf, -5e-324])
    g = RNG.normal(size=x.shape)
    for f, args in ((fa.leaky_relu, (x,)), (fa.leaky_relu_derivative, (x,)),
                    (fa.leaky_relu_backward, (g, x))):
        u = f.ufunc
        # arrays of float64 and float32, and 0-d arrays, which the wrappers convert for;
        # a NumPy scalar, which they do not
        for a in (args, tuple(v.astype(np.float32) for v in args),
                  tuple(np.asarray(v[3]) for v in args), tuple(v[3] for v in args)):
            got, want = f(*a, alpha), u(*a, alpha)
            assert type(got) is type(want) and got.dtype == want.dtype
            assert_array_equal(np.signbit(got), np.signbit(want))
            assert_array_equal(got, want)
            if alpha == 0.01:       # the default, the cached 0-d array
                assert_array_equal(f(*a), want)
                assert type(f(*a)) is type(want)
        out = np.empty(x.shape, dtype=np.float32)
        assert f(*args, alpha, out=out) is out
        assert_array_equal(out, u(*args, alpha).astype(np.float32))
    assert fa.leaky_relu(-1.0) == -0.01 and type(fa.leaky_relu(-1.0)) is np.float64


def test_leaky_float_alpha_reaches_overrides_as_given():
    # Inputs that may dispatch or wrap by the operands' types get the float alpha itself:
    # an __array_ufunc__ taking only numbers and its own type, a subclass with a negative
    # __array_priority__ (whose wrap would otherwise lose to the 0-d array's).
    class Numbers:
        def __init__(self, v):
            self.v = v

        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
            if not all(isinstance(i, (Numbers, numbers.Number)) for i in inputs):
                return NotImplemented
            return Numbers(ufunc(*[i.v if isinstance(i, Numbers) else i for i in inputs]))

    class Low(np.ndarray):
        __array_priority__ = -1.0

    assert fa.leaky_relu(Numbers(-2.0)).v == -0.02
    assert fa.leaky_relu_backward(Numbers(3.0), -1.0, 0.5).v == 1.5
    low = np.array([-1.0, 2.0]).view(Low)
    for f, args in ((fa.leaky_relu, (low,)), (fa.leaky_relu_derivative, (low,)),
                    (fa.leaky_relu_backward, (low, low))):
        assert type(f(*args)) is Low and type(f(*args, 0.3)) is Low


def test_leaky_relu_alpha_per_element():
    # An alpha that varies along the loop (one per channel, PReLU style) takes its own
    # path: every element as it comes out with that alpha alone, also strided and in
    # place, over more than one gathered block (256).
    x = np.concatenate([RNG.normal(size=997), [0.0, -0.0, np.nan, np.inf, -np.inf]])
    x = np.tile(x, (3, 1))
    alpha = RNG.uniform(0.0, 0.5, size=x.shape[-1])
    g = RNG.normal(size=x.shape)
    y = fa.leaky_relu(x, alpha)
    for f, args in ((fa.leaky_relu, (x,)), (fa.leaky_relu_derivative, (x,)),
                    (fa.leaky_relu_backward, (g, y))):
        want = np.array([[f(*(a[r, i] for a in args), alpha[i]) for i in range(x.shape[1])]
                         for r in range(x.shape[0])])
        assert_array_equal(f(*args, alpha), want)
        assert_array_equal(f(*(a[:, ::-2] for a in args), alpha[::-2]), want[:, ::-2])
        first = args[0].copy()
        assert_array_equal(f(first, *args[1:], alpha, out=first), want)
    assert_array_equal(fa.leaky_relu(x[0], alpha), np.where(x[0] > 0, x[0], alpha * x[0]))


@pytest.mark.parametrize("name", NAMES)
def test_backward_is_grad_times_derivative(name):
    x = BODY
    g = RNG.normal(size=x.shape)
    y = getattr(fa, name)(x)
    got = getattr(fa, f"{name}_backward")(g, y)
    want = g * getattr(fa, f"{name}_derivative")(x)
    # From the output, 1 - y keeps the precision y has: full in the body, less in the
    # tails where y rounds towards 1 (the price of a backward from the saved output).
    body = np.abs(x) < 3
    assert_allclose(got[body], want[body], rtol=1e-12)
    assert_allclose(got, want, rtol=1e-6, atol=1e-15 * np.abs(g).max())


def test_backward_strong_zero():
    # Where the local derivative is exactly 0 the gradient is 0, even for g = inf.
    assert fa.sigmoid_backward(np.inf, 1.0) == 0.0
    assert fa.tanh_backward(np.inf, -1.0) == 0.0
    assert fa.relu_backward(np.inf, 0.0) == 0.0
    assert fa.leaky_relu_backward(np.inf, -1.0, 0.0) == 0.0
    assert fa.leaky_relu_backward(2.0, -1.0) == 2 * ALPHA
    assert np.isnan(fa.relu_backward(1.0, np.nan))


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_derivative_central_differences(name):
    f = getattr(fa, name)
    x = np.linspace(-8, 8, 161)
    h = 1e-5
    numeric = (f(x + h) - f(x - h)) / (2 * h)
    assert_allclose(getattr(fa, f"{name}_derivative")(x), numeric, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("name", ["relu", "leaky_relu"])
def test_piecewise_derivative_central_differences(name):
    f = getattr(fa, name)
    x = np.concatenate([np.linspace(-5, -0.01, 50), np.linspace(0.01, 5, 50)])
    h = 1e-6
    numeric = (f(x + h) - f(x - h)) / (2 * h)
    assert_allclose(getattr(fa, f"{name}_derivative")(x), numeric, rtol=1e-8)
