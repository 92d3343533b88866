"""`python -m fastact bench`: fastact against NumPy (the article's formulas and the best
plain NumPy) and, where importable, SciPy, PyTorch and JAX.

For every function and size: time per element of each implementation (the minimum over
rounds that time every implementation in turn, so all see the same machine state), the
speedups, and per function the max ulp error of each against mpmath (128-bit) on a
sample with tails.
"""

from __future__ import annotations

import platform
import sys
import time

import mpmath
import numpy as np

import fastact as fa
from fastact._impls import BEST, NAIVE, PER_ELEMENT, peers

IMPLEMENTATIONS = ("fastact", "numpy_naive", "numpy_best", "scipy", "torch", "jax")

ROW = 1000            # softmax-family slice length
JAC_ROW = 10          # softmax_jacobian slice length (its output is n times larger)
PER_ELEMENT_MAX = 100_000   # np.vectorize baselines cost ~100 ns/element: cap their size

ROWS = {"softmax", "log_softmax", "softmax_backward", "log_softmax_backward"}
BACKWARD = {name for name in fa.__all__ if name.endswith("_backward")}


# ---------------------------------------------------------------- inputs


def _forward_of(name):
    return getattr(fa, name.removesuffix("_backward"))


def _shape(name, size):
    if name == "softmax_jacobian":
        return (max(size // JAC_ROW, 1), JAC_ROW)
    if name in ROWS:
        n = min(size, ROW)
        return (max(size // n, 1), n)
    return (size,)


def make_inputs(name, size, rng):
    """Positional inputs of `name` for about `size` elements."""
    shape = _shape(name, size)
    x = rng.uniform(-20, 20, size=shape)
    if name in BACKWARD:
        return (rng.normal(size=shape), _forward_of(name)(x))
    return (x,)


def accuracy_inputs(name, rng):
    """A sample with tails: the body, log-spaced magnitudes up to 800, and the band where
    sigmoid's values are subnormal."""
    if name in ROWS or name == "softmax_jacobian":
        n = JAC_ROW if name == "softmax_jacobian" else ROW
        x = np.concatenate([rng.normal(scale=3, size=(2, n)),
                            np.r_[30.0, rng.normal(size=n - 1)][None, :]])
    else:
        mag = np.exp(rng.uniform(np.log(1e-300), np.log(800), 1000)) * rng.choice([-1, 1], 1000)
        x = np.concatenate([rng.uniform(-40, 40, 1000), mag, rng.uniform(-745, -708, 200)])
    if name in BACKWARD:
        return (rng.normal(size=x.shape), _forward_of(name)(x))
    return (x,)


# ---------------------------------------------------------------- exact values

mpmath.mp.prec = 128
_ALPHA = mpmath.mpf(0.01)


def _mp_softmax(row):
    xs = [mpmath.mpf(float(v)) for v in row]
    m = max(xs)
    e = [mpmath.exp(v - m) for v in xs]
    k = xs.index(m)
    lse = mpmath.log1p(mpmath.fsum(e[:k] + e[k + 1:]))
    total = 1 + mpmath.fsum(e[:k] + e[k + 1:])
    return [v / total for v in e], [v - m - lse for v in xs]


def _mp_rows(name, inputs):
    out = []
    if name == "softmax_jacobian":
        for row in inputs[0]:
            s, _ = _mp_softmax(row)
            out.append([[si * ((1 if i == j else 0) - sj) for j, sj in enumerate(s)]
                        for i, si in enumerate(s)])
        return out
    for r in range(inputs[0].shape[0]):
        if name in ("softmax", "log_softmax"):
            s, log_s = _mp_softmax(inputs[0][r])
            out.append(s if name == "softmax" else log_s)
            continue
        g = [mpmath.mpf(float(v)) for v in inputs[0][r]]
        y = [mpmath.mpf(float(v)) for v in inputs[1][r]]
        if name == "softmax_backward":
            dot = mpmath.fsum(a * b for a, b in zip(g, y))
            out.append([yi * (gi - dot) for gi, yi in zip(g, y)])
        else:   # log_softmax_backward
            total = mpmath.fsum(g)
            out.append([gi - mpmath.exp(yi) * total for gi, yi in zip(g, y)])
    return out


def _mp_scalar(name):
    e = mpmath.exp
    return {
        "sigmoid": lambda x: 1 / (1 + e(-x)),
        "tanh": mpmath.tanh,
        "relu": lambda x: x if x > 0 else mpmath.mpf(0),
        "leaky_relu": lambda x: x if x > 0 else _ALPHA * x,
        "sigmoid_derivative": lambda x: e(-abs(x)) / (1 + e(-abs(x))) ** 2,
        "tanh_derivative": lambda x: mpmath.sech(x) ** 2,
        "relu_derivative": lambda x: mpmath.mpf(1 if x > 0 else 0),
        "leaky_relu_derivative": lambda x: mpmath.mpf(1) if x > 0 else _ALPHA,
        "sigmoid_backward": lambda g, y: g * y * (1 - y),
        "tanh_backward": lambda g, y: g * (1 - y) * (1 + y),
        "relu_backward": lambda g, y: g if y > 0 else mpmath.mpf(0),
        "leaky_relu_backward": lambda g, y: g if y > 0 else _ALPHA * g,
    }[name]


def exact(name, inputs):
    """The exact values as a double-double (hi, lo) pair of float64 arrays."""
    if name in ROWS or name == "softmax_jacobian":
        values = np.array(_mp_rows(name, inputs), dtype=object).ravel()
    else:
        f = _mp_scalar(name)
        cols = [[mpmath.mpf(float(v)) for v in a.ravel()] for a in inputs]
        values = [f(*args) for args in zip(*cols)]
    hi = np.array([float(v) for v in values])
    lo = np.array([float(v - mpmath.mpf(h)) if np.isfinite(h) else 0.0
                   for v, h in zip(values, hi)])
    return hi, lo


def max_ulp(computed, hi, lo):
    """Max |computed - exact| in ulps of the float64 grid at the exact value."""
    c = np.asarray(computed, dtype=np.float64).ravel()
    with np.errstate(all="ignore"):
        err = np.abs((c - hi) - lo) / np.spacing(np.abs(hi))
    err[(c == hi) & (lo == 0)] = 0.0            # exact, infinities included
    err[np.isnan(err)] = np.inf                 # NaN where a value was expected
    return float(err.max())


# ---------------------------------------------------------------- timing


def _per_call(f, args, calls):
    t0 = time.perf_counter()
    for _ in range(calls):
        f(*args)
    return (time.perf_counter() - t0) / calls


def time_interleaved(funcs, args, repeats=5, target=0.01):
    """Per-call seconds of each function: the min over `repeats` rounds, each round timing
    every function once for about `target` seconds, so all see the same machine state."""
    calls = []
    for f in funcs:
        one = _per_call(f, args, 1)       # also a warm-up call
        calls.append(max(1, int(target / max(one, 1e-9))))
    best = [np.inf] * len(funcs)
    for _ in range(repeats):
        for i, f in enumerate(funcs):
            best[i] = min(best[i], _per_call(f, args, calls[i]))
    return best


# ---------------------------------------------------------------- report


def implementations(name):
    """{implementation: callable} for `name`, the peers only where they have the op."""
    impls = {"fastact": getattr(fa, name), "numpy_naive": NAIVE[name][0],
             "numpy_best": BEST[name][0]}
    for peer, ops in peers().items():
        if name in ops:
            impls[peer] = ops[name]
    return impls


def machine():
    from fastact import kernels
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "cpu": _cpu_name(), "fastact": fa.__version__, "variant": kernels.variant,
            "threads": fa.get_num_threads(), "numpy": np.__version__}
    for mod in ("scipy", "torch", "jax"):
        if mod in sys.modules:
            info[mod] = getattr(sys.modules[mod], "__version__", "?")
    return info


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure(functions, sizes, repeats=5, seed=0, progress=True):
    """Time and check every function; returns a JSON-ready dict."""
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    results = []
    with np.errstate(all="ignore"), tqdm(total=len(functions) * len(sizes), unit="case",
                                        disable=None if progress else True,
                                        file=sys.stderr) as bar:
        for name in functions:
            impls = implementations(name)
            sample = accuracy_inputs(name, rng)
            hi, lo = exact(name, sample)
            ulp = {k: max_ulp(np.asarray(f(*sample)), hi, lo) for k, f in impls.items()}
            for size in sizes:
                bar.set_postfix_str(f"{name} {size:g}")
                args = make_inputs(name, size, rng)
                n_el = args[0].size
                timed = {k: f for k, f in impls.items()
                         if not (k == "numpy_naive" and name in PER_ELEMENT
                                 and n_el > PER_ELEMENT_MAX)}
                times = time_interleaved(list(timed.values()), args, repeats)
                ns = {k: t / n_el * 1e9 for k, t in zip(timed, times)}
                results.append({
                    "function": name, "size": n_el, "shape": list(args[0].shape),
                    "ns_per_element": ns,
                    "speedup": {k: v / ns["fastact"] for k, v in ns.items() if k != "fastact"},
                    "max_ulp": ulp,
                    "code": {"numpy_naive": NAIVE[name][1], "numpy_best": BEST[name][1]},
                })
                bar.update()
    return {"machine": machine(), "repeats": repeats, "results": results}


def report(data, write=print):
    m = data["machine"]
    write(f"fastact {m['fastact']} ({m['variant']}, {m['threads']} threads), numpy "
          f"{m['numpy']}" + "".join(f", {k} {m[k]}" for k in ("scipy", "torch", "jax")
                                      if k in m) + f" on {m['cpu']}")
    write("ns per element (min of interleaved rounds); speedup = their time / fastact's; "
          "max ulp against mpmath on a sample with tails; '-' = not available.")
    by_function = {}
    for r in data["results"]:
        by_function.setdefault(r["function"], []).append(r)
    for name, rows in by_function.items():
        cols = [k for k in IMPLEMENTATIONS if k in rows[0]["max_ulp"]]
        code = rows[0]["code"]
        write("")
        write(f"{name}   naive: {code['numpy_naive']}   best: {code['numpy_best']}")
        write(f"{'size':>10} " + " ".join(f"{c:>11}" for c in cols)
              + f" {'x naive':>8} {'x best':>7}")
        for r in rows:
            ns = r["ns_per_element"]
            cells = " ".join(f"{ns[c]:>11.2f}" if c in ns else f"{'-':>11}" for c in cols)
            sp = r["speedup"]
            write(f"{r['size']:>10} {cells} {_fmt(sp.get('numpy_naive'), '.1f', 'x'):>8} "
                  f"{_fmt(sp.get('numpy_best'), '.1f', 'x'):>7}")
        write(f"{'max ulp':>10} " + " ".join(f"{rows[0]['max_ulp'][c]:>11.3g}" for c in cols))
    write("")
    write(f"np.vectorize baselines are timed up to {PER_ELEMENT_MAX} elements. Softmax-family "
          f"rows have up to {ROW} entries, softmax_jacobian rows {JAC_ROW}; PyTorch and JAX "
          "run one thread.")


def _fmt(v, spec, suffix=""):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    return f"{v:{spec}}{suffix}"
