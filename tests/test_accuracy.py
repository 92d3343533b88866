"""ulp accuracy against mpmath (128-bit) over the whole float64 domain, tails and
subnormal results included."""

import numpy as np
import pytest

import fastact as fa
from _reference import (LONG_DOUBLE_OK, MP, accuracy_points, ld_reference, ld_ulp_errors,
                        max_ulp_error, mp_softmax_and_log)

import mpmath

BOUNDS = {"sigmoid": 2, "tanh": 2, "sigmoid_derivative": 4, "tanh_derivative": 4}


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_elementwise_ulp(name):
    x = accuracy_points(seed=sorted(BOUNDS).index(name))
    got = getattr(fa, name)(x)
    exact = [MP[name](mpmath.mpf(float(v))) for v in x]
    err, i = max_ulp_error(got, exact)
    assert err <= BOUNDS[name], f"{name}: {err:.2f} ulp at x = {x[i]!r}"


@pytest.mark.skipif(not LONG_DOUBLE_OK, reason="needs an 80-bit (or wider) long double")
@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_elementwise_ulp_dense(name):
    # 2e6 random points where the rare worst cases live: 1 in 1e5 of them broke the
    # bounds (sigmoid 2.4 ulp for x < 0, the derivatives 4.1-4.3 ulp for |x| in 1..8)
    # while the mpmath sample above passed.
    rng = np.random.default_rng(sorted(BOUNDS).index(name) + 100)
    x = np.r_[rng.uniform(-40, 40, 1_000_000), rng.uniform(-8, 8, 1_000_000)]
    err = ld_ulp_errors(getattr(fa, name)(x), ld_reference(name, x))
    i = int(np.argmax(err))
    assert err[i] <= BOUNDS[name], f"{name}: {err[i]:.2f} ulp at x = {x[i]!r}"


def test_tanh_ulp_both_sides_of_the_switch():
    # |x| <= 0.625 takes the rational function, above it (1 - t) / (1 + t): dense points
    # on both, the switch and its neighbours, both signs.
    rng = np.random.default_rng(7)
    a = np.r_[rng.uniform(0, 0.7, 3000), np.exp(rng.uniform(-40, 0, 500)),
              [0.625, np.nextafter(0.625, 0), np.nextafter(0.625, 1), 0.7, 1e-160]]
    x = np.r_[a, -a]
    err, i = max_ulp_error(fa.tanh(x), [MP["tanh"](mpmath.mpf(float(v))) for v in x])
    assert err <= BOUNDS["tanh"], f"tanh: {err:.2f} ulp at x = {x[i]!r}"


@pytest.mark.parametrize("name, band", [("tanh_derivative", (350.0, 390.0)),
                                        ("sigmoid_derivative", (700.0, 760.0)),
                                        ("sigmoid", (700.0, 760.0)), ("tanh", (17.0, 20.0))])
def test_ulp_where_results_underflow_or_saturate(name, band):
    # Every float64 step of 1/64 through the band where the result leaves the normal
    # range (tanh' once returned NaN for |x| in [376.9, 377.9], where 2^(k + 64) built
    # from k's bits was no longer a normal number), both signs.
    a = np.arange(band[0], band[1], 1 / 64)
    x = np.r_[a, -a]
    exact = [MP[name](mpmath.mpf(float(v))) for v in x]
    err, i = max_ulp_error(getattr(fa, name)(x), exact)
    assert err <= BOUNDS[name], f"{name}: {err:.2f} ulp at x = {x[i]!r}"


def _rows():
    rng = np.random.default_rng(11)
    return {
        "gaussian-1000": rng.normal(scale=3, size=1000),
        "uniform-2000": rng.uniform(-30, 30, size=2000),
        "one-dominant": np.r_[40.0, rng.normal(size=1200)],
        "500-below-max": np.r_[0.0, -500 + rng.normal(size=800), -3.0],
        "tiny-spread": 0.1 + rng.normal(size=50) * 1e-14,
        "large-magnitude": 1e6 + rng.normal(size=300),
        # Around the |max| <= 2000 switch between the two exp reductions (_sum_others).
        "max-1999.7": 1999.7 - np.r_[0.0, rng.exponential(3, size=300)],
        "max-2000.3": 2000.3 - np.r_[0.0, rng.exponential(3, size=300)],
        "max--1999.6": -1999.6 - np.r_[0.0, rng.uniform(0, 760, size=400)],
        # Subnormal results, with the max's e^(m - K ln2) above and below 1.
        "subnormal-band-0.3": 0.3 - np.r_[0.0, rng.uniform(700, 746, size=400)],
        "subnormal-band--0.3": -0.3 - np.r_[0.0, rng.uniform(700, 746, size=400)],
        # The other terms sum to a subnormal T (log_softmax of the max is -T): rounding
        # each term to the subnormal grid once cost up to 2e4 ulp there.
        "subnormal-T": np.r_[0.0, np.full(100, -744.7)],
        "subnormal-T-terms-below-746": np.r_[0.0, np.full(3000, -750.0)],
        "subnormal-T-far-max": 2500.0 - np.r_[0.0, rng.uniform(735, 745, size=60)],
        "two": np.array([1000.0, 1.0]),
        "ties": np.array([2.0, 2.0, 2.0, -1.0]),
    }


@pytest.mark.parametrize("row", sorted(_rows()))
def test_softmax_family_ulp(row):
    x = _rows()[row]
    s_exact, l_exact = mp_softmax_and_log(x)
    err, i = max_ulp_error(fa.softmax(x), s_exact)
    assert err <= 4, f"softmax {row}: {err:.2f} ulp at index {i}"
    err, i = max_ulp_error(fa.log_softmax(x), l_exact)
    assert err <= 4, f"log_softmax {row}: {err:.2f} ulp at index {i}"
    # the column kernel (a non-last axis) on the same slice
    err, i = max_ulp_error(fa.log_softmax(x[:, None], axis=0)[:, 0], l_exact)
    assert err <= 4, f"log_softmax axis=0 {row}: {err:.2f} ulp at index {i}"


def test_log_softmax_subnormal_T_long_row():
    # A row over LONG_ROW entries (chunked), the other terms summing to a subnormal T.
    x = np.r_[0.0, np.full(65536, -744.9)]
    T = 65536 * mpmath.exp(mpmath.mpf(-744.9))
    got = fa.log_softmax(x)
    assert max_ulp_error(got[:1], [-mpmath.log1p(T)])[0] <= 4
    assert max_ulp_error(got[1:2], [mpmath.mpf(-744.9) - mpmath.log1p(T)])[0] <= 4
