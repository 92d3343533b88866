"""Fit the polynomial coefficients used by fastact/_math.pxd (run: python tools/fit_polynomials.py).

- exp: e^r = 1 + r + r^2 G(r) on |r| <= ln2/2, G of degree 9 (total degree 11); the
  exact 1 + r keeps small arguments exact.
- the AVX-512 table exp: e^r = 1 + r + r^2 H(r) on |r| <= ln2/32, H of degree 5, and the
  16 entries 2^(j/16) rounded to double with their rounding errors relative to them.
- tanh: tanh(x) = x + x z P(z) / Q(z), z = x^2, on |x| <= TANH_SMALL, P of degree 2 and Q
  of degree 3 with Q(0) = 1 (a rational minimax fit by Remez exchange: 6 multiply-adds
  where a polynomial needs 12 for the same error; the division is shared with the
  (1 - t) / (1 + t) of larger |x|).
- log1p: log(1 + f) = 2 atanh(s), s = f / (2 + f), for 1 + f in [sqrt(1/2), sqrt(2)):
  2 atanh(s) = 2s + s z W(z) with z = s^2 <= LOG_ZMAX, W of degree LOG_DEGREE.

Chebyshev interpolation (mpmath.chebyfit) at 256 bits is within a small factor of the
minimax error, which is far below double rounding for these degrees; the script prints
each fit's max relative error (with the coefficients rounded to double) so the choice of
degree can be checked.
"""

import argparse

import mpmath

mpmath.mp.prec = 256

LN2_HALF = mpmath.log(2) / 2
LN2_32 = mpmath.log(2) / 32
TANH_SMALL = mpmath.mpf("0.625")
TANH_P_DEGREE = 2
TANH_Q_DEGREE = 3
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


def _poly(c, t):
    s = 0
    for v in reversed(c):
        s = s * t + v
    return s


def rational_fit(f, interval, m, n, iterations=8, grid=4000):
    """P / Q ~ f with minimal max relative error (P of degree m, Q of degree n, Q(0) = 1):
    Remez exchange on the m + n + 2 points where the error alternates in sign."""
    a, b = interval
    k = m + n + 2
    pts = [a + (b - a) * (1 - mpmath.cos(mpmath.pi * i / (k - 1))) / 2 for i in range(k)]
    # start: interpolate f at the first k - 1 points (E = 0)
    rows = [[t**j for j in range(m + 1)] + [-f(t) * t**j for j in range(1, n + 1)]
            for t in pts[:-1]]
    start = mpmath.lu_solve(mpmath.matrix(rows), mpmath.matrix([f(t) for t in pts[:-1]]))
    u = list(start) + [mpmath.mpf(0)]
    for _ in range(iterations):
        fs = [f(t) for t in pts]

        def equations(*u, pts=pts, fs=fs):   # P(t_i) = f(t_i) Q(t_i) (1 + (-1)^i E)
            p, q, e = u[:m + 1], (1,) + u[m + 1:-1], u[-1]
            return [_poly(p, t) - v * _poly(q, t) * (1 + (-1) ** i * e)
                    for i, (t, v) in enumerate(zip(pts, fs))]

        u = list(mpmath.findroot(equations, u, tol=mpmath.mpf(10) ** -60, maxsteps=50))
        p, q = u[:m + 1], [1] + u[m + 1:-1]
        ts = [a + (b - a) * i / grid for i in range(grid + 1)]
        err = [_poly(p, t) / _poly(q, t) / f(t) - 1 for t in ts]
        extrema = []          # local extrema of |err|, merged into sign alternation
        for i, e in enumerate(err):
            if all(abs(e) >= abs(err[j]) for j in (i - 1, i + 1) if 0 <= j <= grid):
                if extrema and mpmath.sign(e) == mpmath.sign(extrema[-1][1]):
                    if abs(e) > abs(extrema[-1][1]):
                        extrema[-1] = (ts[i], e)
                else:
                    extrema.append((ts[i], e))
        while len(extrema) > k:
            extrema.pop(0 if abs(extrema[0][1]) < abs(extrema[-1][1]) else -1)
        if len(extrema) == k:
            pts = [t for t, _ in extrema]
    return [float(c) for c in p], [float(c) for c in q]


def fit(f, interval, n):
    coeffs, err = mpmath.chebyfit(f, interval, n, error=True)
    return [float(c) for c in reversed(coeffs)], err   # lowest degree first


def rel_error(coeffs, f, interval, points=2000, denominator=(1,)):
    a, b = interval
    worst = 0
    for i in range(points + 1):
        t = a + (b - a) * i / points
        if t == 0:
            continue
        p = _poly([mpmath.mpf(c) for c in coeffs], t)
        q = _poly([mpmath.mpf(c) for c in denominator], t)
        worst = max(worst, abs(p / q / f(t) - 1))
    return worst


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    g, _ = fit(exp_g, [-LN2_HALF, LN2_HALF], 10)
    print("EXP_G =", g)
    print("  max relative error of G:", mpmath.nstr(rel_error(g, exp_g, [-LN2_HALF, LN2_HALF]), 3))
    h, _ = fit(exp_g, [-LN2_32, LN2_32], 6)
    print("EXP_H =", h)
    print("  max relative error of H:", mpmath.nstr(rel_error(h, exp_g, [-LN2_32, LN2_32]), 3))
    table = [mpmath.mpf(2) ** (mpmath.mpf(j) / 16) for j in range(16)]
    print("EXP2_16THS =", [float(t) for t in table])
    print("EXP2_16THS_TAIL =", [float((t - float(t)) / float(t)) for t in table])
    p, q = rational_fit(tanh_p, [0, TANH_SMALL**2], TANH_P_DEGREE, TANH_Q_DEGREE)
    print("TANH_P =", p)
    print("TANH_Q =", q)
    print("  max relative error of P / Q:",
          mpmath.nstr(rel_error(p, tanh_p, [0, TANH_SMALL**2], denominator=q), 3))
    w, _ = fit(log_w, [0, LOG_ZMAX], LOG_DEGREE + 1)
    print("LOG_W =", w)
    print("  max relative error of W:", mpmath.nstr(rel_error(w, log_w, [0, LOG_ZMAX]), 3))
