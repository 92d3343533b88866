"""CPU dispatch (every variant this machine runs, against the same bounds and each other)
and threads (bit-identical results whatever the thread count)."""

import itertools
import os
import subprocess
import sys

import mpmath
import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastact as fa
from fastact import _rows, kernels
from _reference import (LONG_DOUBLE_OK, MP, accuracy_points, ld_reference, ld_ulp_errors,
                        max_ulp_error, mp_long_row_exact, mp_softmax_and_log)

VARIANTS = kernels.supported_variants()
BOUNDS = {"sigmoid": 2, "tanh": 2, "sigmoid_derivative": 4, "tanh_derivative": 4}
# whether a call can be split here at all (OpenMP in the build, a second core)
SPLITS = kernels.has_openmp() and (os.cpu_count() or 1) > 1
ELEMENTWISE = [fa.sigmoid, fa.tanh, fa.relu, fa.leaky_relu, fa.sigmoid_derivative,
               fa.tanh_derivative, fa.relu_derivative, fa.leaky_relu_derivative]


@pytest.fixture(params=VARIANTS)
def variant(request):
    before = kernels.variant
    kernels._use_variant(request.param)
    yield request.param
    kernels._use_variant(before)


def test_best_variant_is_default():
    if not os.environ.get("FASTACT_ISA"):
        assert kernels.variant == VARIANTS[-1]
    assert VARIANTS[0] == "baseline"


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_variant_accuracy(variant, name):
    x = accuracy_points(seed=7, n=500)
    exact = [MP[name](mpmath.mpf(float(v))) for v in x]
    err, i = max_ulp_error(getattr(fa, name)(x), exact)
    assert err <= BOUNDS[name], f"{variant} {name}: {err:.2f} ulp at x = {x[i]!r}"


@pytest.mark.skipif(not LONG_DOUBLE_OK, reason="needs an 80-bit (or wider) long double")
@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_variant_accuracy_dense(variant, name):
    # 1e6 random points against the long-double reference (see test_accuracy).
    rng = np.random.default_rng(sorted(BOUNDS).index(name) + 200)
    x = np.r_[rng.uniform(-40, 40, 500_000), rng.uniform(-8, 8, 500_000)]
    err = ld_ulp_errors(getattr(fa, name)(x), ld_reference(name, x))
    i = int(np.argmax(err))
    assert err[i] <= BOUNDS[name], f"{variant} {name}: {err[i]:.2f} ulp at x = {x[i]!r}"


@pytest.mark.skipif(not LONG_DOUBLE_OK, reason="needs an 80-bit (or wider) long double")
@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_variant_exp_reduction_edges(variant, name):
    # Where the exp's reduction switches its integer and |r| is at its largest: the
    # AVX-512 table's index at c|x| = (n + 1/2) ln2/16, the Cody-Waite k of the other
    # variants at (n + 1/2) ln2; the points and their neighbours, c|x| up to 760 (the
    # dense tests stop at 40), both signs.
    c = 2.0 if name.startswith("tanh") else 1.0
    a = np.r_[(np.arange(0, 17_600) + 0.5) * (np.log(2) / 16),
              (np.arange(0, 1_100) + 0.5) * np.log(2)] / c
    a = a[a * c <= 760]
    x = np.concatenate([a, np.nextafter(a, 0), np.nextafter(a, np.inf)])
    x = np.r_[x, -x]
    err = ld_ulp_errors(getattr(fa, name)(x), ld_reference(name, x))
    i = int(np.argmax(err))
    assert err[i] <= BOUNDS[name], f"{variant} {name}: {err[i]:.2f} ulp at x = {x[i]!r}"


@pytest.mark.skipif(not LONG_DOUBLE_OK, reason="needs an 80-bit (or wider) long double")
@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_variant_binade_edges(variant, name):
    # Where e^-c|x| sits just above a power of two 2^-k and the result just below one
    # (sigmoid at x just above -k ln2), the exp's error counts twice in ulps of the
    # result, and every other rounding must stay within half an ulp: sigmoid reached
    # 2.01 ulp at x = -9.01091091417608 (k = 13) while it corrected its quotient after
    # rounding it. Relative offsets up to 2^-k, where the result stays below 2^-k.
    c = 2.0 if name.startswith("tanh") else 1.0
    rng = np.random.default_rng(sorted(BOUNDS).index(name) + 300)
    k = np.repeat(np.arange(1, 61), 20_000)
    a = k * np.log(2) * (1 - rng.uniform(0, 1, k.size) * np.exp2(-k.astype(float))) / c
    x = np.r_[-9.01091091417608, a, -a]
    err = ld_ulp_errors(getattr(fa, name)(x), ld_reference(name, x))
    i = int(np.argmax(err))
    assert err[i] <= BOUNDS[name], f"{variant} {name}: {err[i]:.2f} ulp at x = {x[i]!r}"


def test_variant_softmax_backward_huge_gradient(variant):
    # The baseline build splits factors for its exact products (no fma): a gradient
    # above 2^996 overflowed the split and gave NaN on that variant alone.
    for n in (2, 40):
        g = np.zeros(n)
        g[0] = 2e300
        y = np.full(n, 1 / n)
        want = y * (g - g[0] / n)
        np.testing.assert_allclose(fa.softmax_backward(g, y), want, rtol=1e-15)
        batch = fa.softmax_backward(np.tile(g, (3, 1)), np.tile(y, (3, 1)))
        np.testing.assert_allclose(batch[1], want, rtol=1e-15)


def test_variant_softmax_accuracy(variant):
    rng = np.random.default_rng(8)
    x = np.r_[30.0, rng.normal(scale=4, size=1500), -500 + rng.normal(size=100),
              30.0 - rng.uniform(700, 746, size=200)]
    s_exact, l_exact = mp_softmax_and_log(x)
    assert max_ulp_error(fa.softmax(x), s_exact)[0] <= 4
    assert max_ulp_error(fa.log_softmax(x), l_exact)[0] <= 4


@pytest.mark.parametrize("n", [32, 39, 255, 256, 257, 263, 280, 287, 288, 1031])
def test_variant_softmax_lane_edges(variant, n):
    # Slices of 256 entries or more sum over 32 lanes, shorter ones over 8 (with AVX-512
    # in registers, the last n mod 32 or n mod 8 entries masked): every kind of entry
    # the lanes treat apart (maximal ones, -inf, entries below the terms' cutoff of
    # max - 790) at lengths around the lane count, fresh and in place; and slices with
    # none below the cutoff, which AVX-512 takes without clamping (the smallest entry at
    # the cutoff, or near).
    rng = np.random.default_rng(n)
    for m, far in itertools.product((4.0, -1999.5, 1999.5), (True, False)):
        x = m - 4 + rng.normal(scale=4, size=n)     # the max near the +-2000 switch too
        lo = m - 790.0                              # the terms' cutoff, and one step aside
        if far:
            x[rng.choice(n, 3, replace=False)] = -np.inf
            x[rng.choice(n, 3, replace=False)] = m - 800.0
            x[rng.choice(n, 3, replace=False)] = [np.nextafter(lo, -np.inf), lo,
                                                  np.nextafter(lo, np.inf)]
        else:
            x[rng.choice(n, 2, replace=False)] = [lo, np.nextafter(lo, np.inf)]
        x[[0, n // 2, n - 1]] = m                   # ties at the max, the last entry too
        s_exact, l_exact = mp_softmax_and_log(x)
        finite = np.isfinite(x)
        for f, exact in ((fa.softmax, s_exact), (fa.log_softmax, l_exact)):
            got = f(x)
            err = max_ulp_error(got[finite], np.array(exact)[finite])[0]
            assert err <= 4, (f.__name__, m, far)
            y = x.copy()
            assert_array_equal(f(y, out=y), got)
        assert_array_equal(fa.softmax(x)[~finite], 0.0)
        assert_array_equal(fa.log_softmax(x)[~finite], -np.inf)


@pytest.mark.parametrize("n", [32, 45, 255, 256, 263, 1031])
def test_variant_softmax_special_slices(variant, n):
    # With AVX-512 or AVX2 a slice of 32 entries or more finds its max in a pass that
    # ignores NaN, and its NaN from the sum: a NaN at the start, inside, or in the masked last
    # group, beside -inf, +inf or nothing else finite, must still make the slice NaN;
    # +inf and all -inf keep their meanings; a max of +0 and -0 is one tie of two.
    base = np.random.default_rng(n).normal(scale=3, size=n)
    for at in (0, n // 2, n - 1):
        for other in ("finite", "+inf", "-inf"):
            x = np.full(n, -np.inf) if other == "-inf" else base.copy()
            if other == "+inf":
                x[n // 3] = np.inf
            x[at] = np.nan
            for f in (fa.softmax, fa.log_softmax):
                assert np.isnan(f(x)).all(), (f.__name__, at, other)
                y = x.copy()
                assert np.isnan(f(y, out=y)).all(), (f.__name__, at, other)
    assert np.isnan(fa.softmax(np.full(n, np.nan))).all()
    assert np.isnan(fa.log_softmax(np.full(n, -np.inf))).all()
    x = base.copy()
    x[[1, n - 1]] = np.inf
    want = np.zeros(n)
    want[[1, n - 1]] = 0.5
    assert_array_equal(fa.softmax(x), want)
    for zeros in ((-0.0, 0.0), (0.0, -0.0)):
        x = np.full(n, -1000.0)
        x[n // 2], x[n - 1] = zeros
        assert fa.softmax(x)[n // 2] == fa.softmax(x)[n - 1] == 0.5
        assert fa.log_softmax(x)[n // 2] == fa.log_softmax(x)[n - 1] == -np.log(2)


@pytest.mark.parametrize("case", ["nan_chunk_start", "nan_last", "nan_and_inf", "ties",
                                  "chunk_below_cutoff", "one_finite", "far"])
def test_variant_long_row_chunks(variant, threads, case):
    # Rows over LONG_ROW (32,768) entries take the chunk steps that threads share; with
    # AVX-512 or AVX2 these take the light max pass chunk by chunk: the chunk sums count
    # the maximal entries and find a NaN, a chunk with no entry below the cutoff (max -
    # 790) leaves out the clamp where the others keep it, and a row whose max is not
    # within +-2000 takes the full max pass. One thread and two give the same bits,
    # fresh and in place, within the bounds of mpmath.
    n = 3 * 32_768 + 100                            # 4 chunks, the last one short
    pattern = np.random.default_rng(31).normal(scale=3, size=97)
    x = np.resize(pattern, n)
    top = pattern.max() + 1.0
    nan = case.startswith("nan")
    if case == "nan_chunk_start":
        x[32_768] = np.nan
    elif case == "nan_last":
        x[-1] = -np.nan             # in the last chunk's masked group; the sign bit set:
                                    # on any thread count, the same NaN (bits) comes out
    elif case == "nan_and_inf":
        x[5], x[70_000] = np.nan, np.inf
    elif case == "ties":
        x[[7, 40_000, n - 1]] = top                 # three chunks, the last entry too
    elif case == "chunk_below_cutoff":
        x[65_536:98_304] = top - 800.0              # chunk 2 below the cutoff
        x[[3, 40_000]] = top, top - 790.0           # chunk 1's min at it
    elif case == "one_finite":
        x[:] = -np.inf
        x[50_000] = 1.0
    else:
        x += 2100.0
    results = []
    for nt in (1, 2):
        fa.set_num_threads(nt)
        for f in (fa.softmax, fa.log_softmax):
            got = f(x)
            y = x.copy()
            assert f(y, out=y).tobytes() == got.tobytes()       # NaN bits too
            results.append(got)
    for one, two in zip(results[:2], results[2:]):
        assert one.tobytes() == two.tobytes()
    if nan:
        assert all(np.isnan(r).all() for r in results)
        return
    first, s_exact, l_exact = mp_long_row_exact(x)
    finite = np.isfinite(x[first])
    assert max_ulp_error(results[0][first][finite], np.array(s_exact)[finite])[0] <= 4
    assert max_ulp_error(results[1][first][finite], np.array(l_exact)[finite])[0] <= 4
    assert (results[0][~np.isfinite(x)] == 0).all()
    if case == "ties":
        assert np.unique(results[0][[7, 40_000, n - 1]]).size == 1


@pytest.mark.parametrize("n,w", [(31, 13), (32, 13), (100, 263)])
def test_variant_columns(variant, n, w):
    # Softmax over the first axis takes the column kernel (with AVX-512, from 32 rows
    # on, the table exp's C loop, 8 columns at a time, the last group masked): special
    # columns (+inf, NaN, all -inf, a max beyond +-2000) among ordinary ones with ties,
    # -inf entries and entries at and below the cutoff (max - 790). Each column gives
    # the bits it gives alone, fresh and in place, within 4 ulp of mpmath.
    rng = np.random.default_rng(n * w)
    x = rng.normal(scale=4, size=(n, w))
    x[[0, n // 2, n - 1], 1] = 30.0                 # ties at the max
    x[[3, 7], 2] = -np.inf
    x[[4, 5], 3] = [x[:, 3].max() - 790.0, x[:, 3].max() - 800.0]
    x[6, 4] = np.inf
    x[[2, n - 2], 5] = np.inf
    x[8, 6] = np.nan
    x[:, 7] = -np.inf
    x[:, 8] += 2100.0
    x[:, 9] -= 2100.0
    x[:, 10] = -3000.0
    x[[1, n - 1], 10] = 5.0                         # two maximal entries alone: 1/2 each
    x[0, w - 1] = 45.0                              # in the masked last group
    for f in (fa.softmax, fa.log_softmax):
        got = f(x, axis=0)
        y = x.copy()
        assert_array_equal(f(y, axis=0, out=y), got)
        for j in range(w):
            assert_array_equal(f(np.ascontiguousarray(x[:, j:j + 1]), axis=0)[:, 0],
                               got[:, j], err_msg=f"{f.__name__} column {j}")
        assert np.isnan(got[:, 6]).all() and np.isnan(got[:, 7]).all()
        for j in (0, 1, 2, 3, 8, 9, w - 1):
            col = x[:, j]
            s_exact, l_exact = mp_softmax_and_log(col)
            exact = np.array(s_exact if f is fa.softmax else l_exact)
            keep = np.isfinite(col)
            assert max_ulp_error(got[keep, j], exact[keep])[0] <= 4, (f.__name__, j)
    s = fa.softmax(x, axis=0)
    assert s[6, 4] == 1.0 and s[2, 5] == s[n - 2, 5] == 0.5
    assert (s[[3, 7], 2] == 0).all() and s[0, 1] == s[n // 2, 1] == s[n - 1, 1]
    assert s[1, 10] == s[n - 1, 10] == 0.5


@pytest.mark.parametrize("n", [255, 256, 300, 40_000])
def test_variant_softmax_exact_shares(variant, n):
    # A lone finite entry gets exactly 1 and two equal ones exactly 1/2 (n equal ones
    # 1/n for n a power of two), whatever the slice's length and max: a maximal entry's term must be the very unit the divisor
    # counts it as (AVX-512 once stored its table exp there, 1 ulp from the unit).
    for m in (1.0, -1619.8, 733.3, 1999.9):
        one_hot = np.full(n, -np.inf)
        one_hot[n // 3] = m
        expected = np.zeros(n)
        expected[n // 3] = 1.0
        assert_array_equal(fa.softmax(one_hot), expected)
        uniform = fa.softmax(np.full(n, m))         # u / fl(n u): exact for n = 2^k
        if n & (n - 1) == 0:
            assert_array_equal(uniform, 1.0 / n)
        np.testing.assert_array_max_ulp(uniform, np.full(n, 1.0 / n), maxulp=1)
        tied = np.full(n, m - 3000.0)
        tied[[0, n - 1]] = m
        got = fa.softmax(tied)
        assert got[0] == got[-1] == 0.5 and fa.log_softmax(tied)[0] == -np.log(2)


@pytest.mark.parametrize("n", [1300, 40_000])
def test_variant_in_place(variant, n):
    # Every variant splits its exp-based loops its own way (blocks of 512 or 128, one to
    # three loops with buffers between them): in place (out is an input) must give the
    # bits of a fresh output, for the elementwise kernels, softmax rows and a long 1-D
    # slice, and both backward kernels into either input.
    rng = np.random.default_rng(n)
    x = rng.normal(scale=4, size=n)
    for f in (fa.sigmoid, fa.tanh, fa.sigmoid_derivative, fa.tanh_derivative):
        y = x.copy()
        assert_array_equal(f(y, out=y), f(x))
    for f in (fa.softmax, fa.log_softmax):
        for shaped in (x, x[: n - n % 100].reshape(-1, 100).T.copy(), x.reshape(-1, n // 10)):
            y = shaped.copy()
            assert_array_equal(f(y, out=y), f(shaped))
    g = rng.normal(size=n)
    for f, fwd in ((fa.softmax_backward, fa.softmax), (fa.log_softmax_backward, fa.log_softmax)):
        y = fwd(x)
        want = f(g, y)
        gi, yi = g.copy(), y.copy()
        assert_array_equal(f(gi, y, out=gi), want)
        assert_array_equal(f(g, yi, out=yi), want)


@pytest.mark.parametrize("n", [1, 15, 16, 17, 31, 32, 33, 47, 511, 512, 513, 1024, 1025,
                               1600])
def test_variant_block_edges(variant, n):
    # The exp-based kernels work in blocks of 512, some a block behind another (AVX2's
    # derivatives), and AVX-512 sigmoid and the derivatives 16 entries behind the exps of
    # the next 16: every element must come out as it does alone, in any block and at any
    # length.
    x = np.random.default_rng(n).normal(scale=4, size=n)
    for f in (fa.sigmoid, fa.tanh, fa.sigmoid_derivative, fa.tanh_derivative):
        alone = np.array([f(x[i:i + 1])[0] for i in range(n)])
        assert_array_equal(f(x), alone)
        y = x.copy()
        assert_array_equal(f(y, out=y), alone)


def test_variants_agree():
    x = np.concatenate([np.linspace(-750, 750, 20001), accuracy_points(seed=9, n=300)])
    rows = np.random.default_rng(10).normal(scale=5, size=(20, 300))
    short = np.random.default_rng(10).normal(scale=5, size=(70, 7))
    results = {}
    before = kernels.variant
    try:
        for v in VARIANTS:
            kernels._use_variant(v)
            results[v] = [f(x) for f in ELEMENTWISE] + [
                fa.softmax(rows), fa.log_softmax(rows), fa.softmax(short),
                fa.log_softmax(short), fa.softmax(np.tile(x, 2)),     # a long row
                fa.log_softmax(np.tile(x, 2))]
    finally:
        kernels._use_variant(before)
    base = results["baseline"]
    for v, got in results.items():
        for a, b in zip(got, base):
            # variants differ by fused multiply-adds, AVX2's polynomial order and
            # AVX-512's table exp (_math.pxd), each within its bound of the exact value:
            # on these inputs within 2 ulp of each other (other inputs reach 3)
            np.testing.assert_array_max_ulp(a, b, maxulp=2)


@pytest.mark.parametrize("nthreads", [1, 2, 3])
def test_results_do_not_depend_on_threads(threads, nthreads):
    rng = np.random.default_rng(11)
    x = rng.uniform(-30, 30, 300_001)        # above the threading threshold, odd length
    g = rng.normal(size=x.shape)
    rows = rng.normal(scale=4, size=(600, 500))
    x32, g32 = x.astype(np.float32), g.astype(np.float32)
    short = rng.normal(scale=4, size=(7001, 10))     # the short-row path, odd batch
    short[3500] = -np.inf                            # rows with the other exp reduction,
    short[3511, 0] = 2500.0                          # where the threads' runs meet
    fa.set_num_threads(1)
    def run():
        return [f(x) for f in ELEMENTWISE] + [
            fa.sigmoid_backward(g, fa.sigmoid(x)), fa.softmax(rows), fa.log_softmax(rows),
            fa.softmax_backward(rows, fa.softmax(rows)), fa.softmax(rows, axis=0),
            fa.log_softmax(rows[None], axis=1), fa.softmax(short), fa.log_softmax(short),
            fa.softmax_backward(short, fa.softmax(short)),
            fa.log_softmax_backward(short, fa.log_softmax(short)),
            fa.softmax(np.ascontiguousarray(short.T), axis=0),
            fa.softmax_jacobian(short[:4004].reshape(-1, 40)),
            fa.softmax(x), fa.log_softmax(x),              # long rows: chunks on threads
            fa.softmax(x[:200_000].reshape(2, -1)), fa.log_softmax(x[1:].reshape(2, -1)),
            fa.softmax_backward(g, fa.softmax(x)),
            fa.log_softmax_backward(g, fa.log_softmax(x))] + [
            # strided and broadcast operands: blocks through buffers, split as well
            f(x[::2]) for f in ELEMENTWISE] + [
            fa.sigmoid_backward(g[::-1], 0.3), fa.relu_backward(g, x[::-1]),
            fa.leaky_relu(x, g), fa.leaky_relu_backward(g[:-1:2], x[:-1:2], g[1::2])] + [
            # float32 widened in blocks
            f(x32) for f in ELEMENTWISE] + [
            fa.sigmoid_backward(g32, x), fa.leaky_relu_backward(g32[::-1], x, 0.2)]
    want = run()
    fa.set_num_threads(nthreads)
    got = run()
    for a, b in zip(got, want):
        assert_array_equal(a, b)


@pytest.mark.parametrize("nthreads", [1, 2, 3])
@pytest.mark.parametrize("shift", [1, 13])
def test_shifted_out_on_threads(threads, nthreads, shift):
    # NumPy hands a ufunc's loop `out` starting before its input uncopied (the in-order
    # shift np.tanh(a[1:], out=a[:-1])); split across threads, each piece's last entries
    # read the input after the next piece had written over it. Above every threading
    # threshold (the ReLUs' and backward products' is twice the others').
    if nthreads > 1 and not SPLITS:
        pytest.skip("one thread only here: no split to test")
    fa.set_num_threads(nthreads)
    rng = np.random.default_rng(12)
    base = rng.uniform(-30, 30, 200_001)
    g = rng.normal(size=base.shape)
    unary = ELEMENTWISE + [lambda x, out: fa.leaky_relu(x, 0.2, out=out)]
    for f in unary:
        a = base.copy()
        want = f(a[shift:].copy(), out=np.empty(a.size - shift))
        f(a[shift:], out=a[:-shift])
        assert_array_equal(a[:-shift], want)
    for f in (fa.sigmoid_backward, fa.tanh_backward, fa.relu_backward,
              fa.leaky_relu_backward):
        for which in (0, 1):                          # out shifted against g, or y
            a = (g if which == 0 else base).copy()
            other = (base if which == 0 else g)[shift:]
            args = [a[shift:], other] if which == 0 else [other, a[shift:]]
            want = f(*[np.array(v) for v in args])
            f(*args, out=a[:-shift])
            assert_array_equal(a[:-shift], want)


def test_stride_zero_out_takes_the_last_entry(threads):
    # An out of one entry repeated (stride 0, writable): NumPy's order leaves the last
    # entry's result there, so such a call must not be split across threads.
    if not SPLITS:
        pytest.skip("one thread only here: no split to test")
    fa.set_num_threads(2)
    x = np.arange(200_000.0) - 100_000.0
    for f in (fa.relu, fa.sigmoid):
        for _ in range(50):
            buf = np.zeros(2)
            f(x[::2], out=np.lib.stride_tricks.as_strided(buf, (100_000,), (0,)))
            assert buf[0] == f(x[-2])


def test_set_num_threads(threads):
    fa.set_num_threads(1)
    assert fa.get_num_threads() == 1
    with pytest.raises(ValueError, match="n must be >= 1"):
        fa.set_num_threads(0)
    fa.set_num_threads(64)
    assert 1 <= fa.get_num_threads() <= 64


def _run(code, **env):
    full = dict(os.environ, **env)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full, cwd=os.path.dirname(__file__))
    assert proc.returncode == 0, proc.stderr
    return proc


def test_environment_variables():
    out = _run("import fastact; print(fastact.kernels.variant, fastact.get_num_threads())",
               FASTACT_ISA="baseline", FASTACT_NUM_THREADS="1").stdout.split()
    assert out == ["baseline", "1"]
    proc = _run("import fastact; print(fastact.kernels.variant)", FASTACT_ISA="sse9")
    assert proc.stdout.strip() == VARIANTS[-1]
    assert "FASTACT_ISA='sse9' is not one of" in proc.stderr
    assert "<string>:1: RuntimeWarning" in proc.stderr     # at the import, not importlib
    proc = _run("import fastact", FASTACT_NUM_THREADS="abc")
    assert "<string>:1: RuntimeWarning: FASTACT_NUM_THREADS='abc'" in proc.stderr


def test_num_threads_arguments(threads):
    for bad in (1.5, "2", None, True):
        with pytest.raises(TypeError):
            fa.set_num_threads(bad)
    with pytest.raises(ValueError, match="n must be >= 1"):
        fa.set_num_threads(0)
    fa.set_num_threads(np.int64(3))
    assert kernels._num_threads_setting() == 3
    fa.set_num_threads(2**40)                   # at most 2**40 threads: no cap but OpenMP's
    assert fa.get_num_threads() == kernels._omp_max_threads()
    out = _run("import fastact; print(fastact.kernels._num_threads_setting())",
               FASTACT_NUM_THREADS=str(2**32 + 1)).stdout
    assert int(out) == 2**31 - 1


# Forks a child after `before` (run with 2 threads); the child runs `child`, which sets
# `ok`, and exits with it; prints the child's exit code and the parent's thread count.
_FORK = """
import os, warnings, numpy as np, fastact as fa
warnings.simplefilter("ignore", DeprecationWarning)     # fork with threads running
fa.set_num_threads(2)
x = np.linspace(-9, 9, 300_000)
{before}
pid = os.fork()
if pid == 0:
    {child}
    os._exit(int(ok))
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), fa.get_num_threads())
"""


def _fork(before, child):
    # In a subprocess, so that a hang ends at the timeout.
    proc = subprocess.run([sys.executable, "-c", _FORK.format(before=before, child=child)],
                          capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(__file__))
    assert proc.returncode == 0, proc.stderr
    status, parent = proc.stdout.split()
    assert int(parent) == min(2, kernels._omp_max_threads())
    return int(status)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork here")
def test_fork_child_runs_on_one_thread():
    # GNU OpenMP's pool does not survive a fork: a team started in the child after the
    # parent had one hung. A child made by fork runs every call on its own thread, with
    # the same results; the parent keeps its threads.
    calls = "[fa.tanh(x), fa.softmax(x), fa.softmax(x.reshape(100, -1))]"
    child = (f"fa.set_num_threads(2); got = {calls}; ok = fa.get_num_threads() == 1 and "
             "all(np.array_equal(a, b) for a, b in zip(got, want))")
    assert _fork(f"want = {calls}", child) == 1     # for good: fastact had run a team
    # forked before fastact ran a team (a forkserver that preloads it): one thread until
    # the child asks for more (it cannot see another library's teams)
    child = ("one = fa.get_num_threads() == 1; fa.set_num_threads(2); "
             "ok = one and fa.get_num_threads() == min(2, fa.kernels._omp_max_threads()); "
             "fa.tanh(x)")
    assert _fork("fa.tanh(x[:1000])", child) == 1


def test_show_config(capsys):
    fa.show_config()
    text = capsys.readouterr().out
    assert f"kernel variant: {kernels.variant}" in text
    for v in VARIANTS:
        assert v in text
    assert "threads:" in text
    if _rows.cache_info()["enabled"]:
        assert "output cache: softmax-family outputs of 1-64 MiB, up to 4" in text
    else:
        assert "output cache: off (FASTACT_OUTPUT_CACHE=0)" in text


def test_threadpoolctl_limits_openmp(threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not kernels.has_openmp():
        pytest.skip("this build has no OpenMP")
    fa.set_num_threads(4)
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert fa.get_num_threads() == 1
    assert fa.get_num_threads() == min(4, kernels._omp_max_threads())
