"""Fit the polynomial coefficients used by fastact/_math.pxd (run: python tools/fit_polynomials.py).

- exp: e^r = 1 + r + r^2 G(r) on |r| <= ln2/2, G of degree 9 (total degree 11); the
  exact 1 + r keeps small arguments exact.
- tanh: tanh(x) = x + x^3 P(x^2) on |x| <= TANH_SMALL, P of degree TANH_DEGREE.
- log1p: log(1 + f) = 2 atanh(s), s = f / (2 + f), for 1 + f in [sqrt(1/2), sqrt(2)):
  2 atanh(s) = 2s + s z W(z) with z = s^2 <= LOG_ZMAX, W of degree LOG_DEGREE.

Chebyshev interpolation (mpmath.chebyfit) at 256 bits is within a small factor of the
minimax error, which is far below double rounding for these degrees; the script prints
each fit's max relative error so the choice of degree can be checked.
"""

import mpmath

mpmath.mp.prec = 256

LN2_HALF = mpmath.log(2) / 2
TANH_SMALL = mpmath.mpf("0.625")
TANH_DEGREE = 11
LOG_ZMAX = ((mpmath.sqrt(2) - 1) / (mpmath.sqrt(2) + 1)) ** 2
LOG_DEGREE = 6


def exp_g(r):
    return (mpmath.exp(r) - 1 - r) / r**2 if r != 0 else mpmath.mpf(1) / 2


def tanh_p(z):
    x = mpmath.sqrt(z)
    return (mpmath.tanh(x) - x) / (x**3) if z != 0 else -mpmath.mpf(1) / 3


def log_w(z):
    s = mpmath.sqrt(z)
    return (2 * mpmath.atanh(s) - 2 * s) / (s * z) if z != 0 else mpmath.mpf(2) / 3


def fit(f, interval, n):
    coeffs, err = mpmath.chebyfit(f, interval, n, error=True)
    return [float(c) for c in reversed(coeffs)], err   # lowest degree first


def rel_error(coeffs, f, interval, points=2000):
    a, b = interval
    worst = 0
    for i in range(points + 1):
        t = a + (b - a) * i / points
        if t == 0:
            continue
        p = sum(mpmath.mpf(c) * t**k for k, c in enumerate(coeffs))
        worst = max(worst, abs(p / f(t) - 1))
    return worst


if __name__ == "__main__":
    g, _ = fit(exp_g, [-LN2_HALF, LN2_HALF], 10)
    print("EXP_G =", g)
    print("  max relative error of G:", mpmath.nstr(rel_error(g, exp_g, [-LN2_HALF, LN2_HALF]), 3))
    p, _ = fit(tanh_p, [0, TANH_SMALL**2], TANH_DEGREE + 1)
    print("TANH_P =", p)
    print("  max relative error of P:", mpmath.nstr(rel_error(p, tanh_p, [0, TANH_SMALL**2]), 3))
    w, _ = fit(log_w, [0, LOG_ZMAX], LOG_DEGREE + 1)
    print("LOG_W =", w)
    print("  max relative error of W:", mpmath.nstr(rel_error(w, log_w, [0, LOG_ZMAX]), 3))
