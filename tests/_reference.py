"""Pure-NumPy reference implementations and ulp helpers for the tests.

The NumPy references use the textbook formulas in float64 (or longdouble where noted);
they check values, shapes and conventions, while `mp_*` below give the exact values
for the ulp bounds.
"""

import mpmath
import numpy as np

mpmath.mp.prec = 128

ALPHA = 0.01


def np_sigmoid(x):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


def np_tanh(x):
    return np.tanh(np.asarray(x, dtype=np.float64))


def np_relu(x):
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, np.where(np.isnan(x), x, 0.0))


def np_leaky_relu(x, alpha=ALPHA):
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, np.where(np.isnan(x), x, alpha * x))


def np_sigmoid_derivative(x):
    s = np_sigmoid(x)
    return s * (1 - s)


def np_tanh_derivative(x):
    return 1 - np.tanh(np.asarray(x, dtype=np.float64)) ** 2


def np_relu_derivative(x):
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, 1.0, np.where(np.isnan(x), x, 0.0))


def np_leaky_relu_derivative(x, alpha=ALPHA):
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, 1.0, np.where(np.isnan(x), x, alpha))


def np_softmax(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def np_softmax_backward(g, s, axis=-1):
    """J^T g from the softmax output s: s_i (g_i - sum_j g_j s_j)."""
    return s * (g - (g * s).sum(axis=axis, keepdims=True))


def np_log_softmax_backward(g, o, axis=-1):
    """From the log_softmax output o: g_i - e^(o_i) sum_j g_j."""
    return g - np.exp(o) * g.sum(axis=axis, keepdims=True)


def np_softmax_jacobian(x):
    """Jacobian over the last axis: (..., n) -> (..., n, n)."""
    s = np_softmax(x)
    eye = np.eye(s.shape[-1])
    jac = -s[..., :, None] * s[..., None, :]
    # 1 - s_i as the sum of the other entries: no cancellation when s_i is near 1
    one_minus = (s[..., None, :] * (1 - eye)).sum(axis=-1)
    return np.where(eye == 1, (s * one_minus)[..., None], jac)


# Forward reference and derivative reference of each elementwise function, by name.
FORWARD = {
    "sigmoid": np_sigmoid,
    "tanh": np_tanh,
    "relu": np_relu,
    "leaky_relu": np_leaky_relu,
}
DERIVATIVE = {
    "sigmoid": np_sigmoid_derivative,
    "tanh": np_tanh_derivative,
    "relu": np_relu_derivative,
    "leaky_relu": np_leaky_relu_derivative,
}


# ---------------------------------------------------------------- exact values


def mp_sigmoid(x):
    return 1 / (1 + mpmath.exp(-x))


def mp_sigmoid_derivative(x):
    t = mpmath.exp(-abs(x))
    return t / (1 + t) ** 2


def mp_tanh_derivative(x):
    return mpmath.sech(x) ** 2


MP = {
    "sigmoid": mp_sigmoid,
    "tanh": mpmath.tanh,
    "sigmoid_derivative": mp_sigmoid_derivative,
    "tanh_derivative": mp_tanh_derivative,
}


def mp_softmax_and_log(x):
    """Exact softmax and log_softmax of a 1-D float array (as mpf lists)."""
    xs = [mpmath.mpf(float(v)) for v in x]
    k = int(np.argmax(x))
    e = [mpmath.exp(v - xs[k]) for v in xs]
    others = mpmath.fsum(e[:k] + e[k + 1:])
    # log1p keeps log(1 + T) exact-ish when T is far below 1 (no 128-bit rounding to 0).
    lse = mpmath.log1p(others)
    return [v / (1 + others) for v in e], [v - xs[k] - lse for v in xs]


def mp_long_row_exact(x):
    """Exact softmax and log_softmax of a long row with few distinct values: one mpmath
    exp per distinct value, weighted by its count (mp_softmax_and_log would take one per
    entry). Returns the index of each value's first entry and the two mpf lists."""
    values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    m = mpmath.mpf(float(values[-1]))
    e = [mpmath.exp(mpmath.mpf(float(v)) - m) for v in values]
    others = mpmath.fsum(int(c) * t for c, t in zip(counts, e)) - 1
    lse = mpmath.log1p(others)
    soft = [t / (1 + others) for t in e]
    log = [mpmath.mpf(float(v)) - m - lse for v in values]
    first = np.array([np.flatnonzero(inverse == k)[0] for k in range(len(values))])
    return first, soft, log


def ulp_error(computed, exact):
    """|computed - exact| in ulps of the float64 grid at `exact` (subnormals included)."""
    computed = float(computed)
    if exact == 0:
        return 0.0 if computed == 0 else float("inf")
    if not np.isfinite(computed):
        return float("inf")
    e = int(mpmath.floor(mpmath.log(abs(exact), 2)))
    spacing = mpmath.mpf(2) ** max(e - 52, -1074)
    return float(abs(mpmath.mpf(computed) - exact) / spacing)


def max_ulp_error(computed, exact):
    errors = [ulp_error(c, e) for c, e in zip(np.ravel(computed), exact)]
    i = int(np.argmax(errors))
    return errors[i], i


# ---------------------------------------------------------------- long double

# x87 extended precision (64-bit significand) where NumPy's longdouble has it: its exp and
# tanh are ~2^-63 accurate, a thousandth of a float64 ulp, and vectorized, so millions of
# points can be checked where mpmath manages thousands.
LONG_DOUBLE_OK = np.finfo(np.longdouble).nmant >= 63


def ld_reference(name, x):
    a = np.abs(x).astype(np.longdouble)
    if name == "sigmoid":
        t = np.exp(-a)
        return np.where(x < 0, t, 1) / (1 + t)
    if name == "tanh":
        return np.copysign(np.tanh(a), x)
    if name == "sigmoid_derivative":
        t = np.exp(-a)
        return t / (1 + t) ** 2
    if name == "tanh_derivative":
        t = np.exp(-2 * a)
        return 4 * t / (1 + t) ** 2
    raise ValueError(name)


def ld_ulp_errors(computed, exact):
    """|computed - exact| in ulps of the float64 grid at each (long double) exact value."""
    mag = np.abs(exact)
    near = np.abs(exact.astype(np.float64))
    # float64(exact) may have rounded up to a power of two: the grid below it is finer
    spacing = np.spacing(np.where(near > mag, np.nextafter(near, 0), near))
    return (np.abs(computed.astype(np.longdouble) - exact) / spacing).astype(np.float64)


# ---------------------------------------------------------------- inputs

# The boundary inputs every elementwise function is checked on.
SPECIAL = np.array(
    [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 2.2250738585072014e-308,
     -2.2250738585072014e-308, 1e-300, -1e-300, 709.0, -709.0, 710.0, -710.0,
     745.0, -745.0, 745.2, -745.2, 1e308, -1e308, 1.0, -1.0, 20.0, -20.0, 40.0, -40.0]
)


def accuracy_points(seed=0, n=1500):
    """A few thousand points over the float64 domain: the body, log-spaced tails down to
    1e-300, the subnormal-result band of sigmoid and the overflow edges."""
    rng = np.random.default_rng(seed)
    body = rng.uniform(-40, 40, n)
    mag = np.exp(rng.uniform(np.log(1e-300), np.log(800), n)) * rng.choice([-1, 1], n)
    subnormal_band = rng.uniform(-745.13, -708.0, n // 5)
    return np.concatenate([body, mag, subnormal_band, SPECIAL[np.isfinite(SPECIAL)]])
