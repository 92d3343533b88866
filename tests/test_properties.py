"""Property tests (hypothesis) over arbitrary float64 inputs, infinities and NaN included."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal

import fastact as fa

ANY = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
                 elements=st.floats(allow_nan=True, allow_infinity=True, width=64))
FINITE_ROWS = hnp.arrays(
    np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6),
    elements=st.floats(-1e300, 1e300, allow_subnormal=True, width=64),
)


@settings(max_examples=200, deadline=None)
@given(ANY)
def test_elementwise_ranges_and_nan(x):
    nan = np.isnan(x)
    s = fa.sigmoid(x)
    assert np.all((s[~nan] >= 0) & (s[~nan] <= 1)) and np.all(np.isnan(s[nan]))
    t = fa.tanh(x)
    assert np.all(np.abs(t[~nan]) <= 1) and np.all(np.isnan(t[nan]))
    assert np.all(fa.relu(x)[~nan] >= 0)
    for d in (fa.sigmoid_derivative(x), fa.tanh_derivative(x)):
        assert np.all((d[~nan] >= 0) & (d[~nan] <= 1)) and np.all(np.isnan(d[nan]))
    # symmetry: sigmoid(-x) = 1 - sigmoid(x), tanh odd, derivatives even
    assert_allclose(fa.sigmoid(-x)[~nan], 1 - s[~nan], rtol=0, atol=2.3e-16)
    assert_array_equal(fa.tanh(-x), -t)
    assert_array_equal(fa.sigmoid_derivative(-x), fa.sigmoid_derivative(x))
    assert_array_equal(fa.tanh_derivative(-x), fa.tanh_derivative(x))


@settings(max_examples=200, deadline=None)
@given(FINITE_ROWS, st.integers(-1, 2))
def test_softmax_is_a_distribution(x, axis):
    axis = min(axis, x.ndim - 1)
    s = fa.softmax(x, axis=axis)
    assert np.all((s >= 0) & (s <= 1))
    assert_allclose(s.sum(axis=axis), 1.0, rtol=1e-14)
    ls = fa.log_softmax(x, axis=axis)
    assert np.all(ls <= 0)
    assert_allclose(np.exp(ls), s, rtol=1e-12, atol=1e-300)


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(-50, 50)),
       st.floats(-1e6, 1e6))
def test_softmax_shift_invariance(x, c):
    x_shift = x + c
    if not np.all(x_shift - c == x):   # the shift itself must be exact to compare
        return
    assert_allclose(fa.softmax(x_shift), fa.softmax(x), rtol=1e-14, atol=1e-300)


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 12), elements=st.floats(-30, 30)),
       hnp.arrays(np.float64, st.integers(1, 12), elements=st.floats(-10, 10)))
def test_softmax_backward_is_jacobian_product(x, g):
    g = np.resize(g, x.shape)
    s = fa.softmax(x)
    assert_allclose(fa.softmax_backward(g, s), fa.softmax_jacobian(x).T @ g,
                    rtol=1e-10, atol=1e-14)


SPECIALS = st.sampled_from([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e308, -1e308, 5e-324])
MIXED = st.one_of(st.floats(-800, 800, width=64), SPECIALS)


@settings(max_examples=150, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=3, min_side=1,
                                                max_side=7), elements=MIXED),
       st.data())
def test_column_kernels_match_row_kernels(x, data):
    # Over a non-last axis the column kernels run; over the last axis of the moved copy,
    # the row kernels. Both follow the same conventions and agree to a few ulps.
    axis = data.draw(st.integers(0, x.ndim - 2))
    for func in (fa.softmax, fa.log_softmax):
        got = func(x, axis=axis)
        want = np.moveaxis(func(np.ascontiguousarray(np.moveaxis(x, axis, -1))), -1, axis)
        assert_array_equal(np.isnan(got), np.isnan(want))
        finite = np.isfinite(want)
        assert_array_equal(got[~finite], want[~finite])
        assert_allclose(got[finite], want[finite], rtol=1.6e-15, atol=1e-300)


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 31),
                  elements=st.floats(-1e300, 1e300, allow_subnormal=True, width=64)))
def test_short_rows_agree_with_the_long_row_kernel(x):
    # Rows under 32 entries take the blocked column kernel; the same row padded with -inf
    # to 40 entries takes the row kernel. Both are within 4 ulp of exact.
    padded = np.r_[x, np.full(40 - x.size, -np.inf)]
    for func in (fa.softmax, fa.log_softmax):
        np.testing.assert_array_max_ulp(func(x), func(padded)[:x.size], maxulp=8)
