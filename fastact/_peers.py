"""`python -m fastact bench --peers`: fastact against the best plain NumPy and, where they
are importable, SciPy, PyTorch (CPU) and JAX (jit, x64), on one thread, float64: time per
element, and max ulp error against mpmath on the sample with tails that bench uses.

None of these is a dependency of fastact; a missing one is a '-' column.
"""

from __future__ import annotations

import os

import numpy as np

import fastact as fa
from fastact._bench import accuracy_inputs, exact, max_ulp, time_interleaved

FUNCTIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "softmax", "log_softmax",
             "sigmoid_derivative", "tanh_derivative"]


def _np_softmax(x):
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _np_log_softmax(x):
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


NUMPY_BEST = {
    "sigmoid": (_np_sigmoid, "1/(1+np.exp(-x))"),
    "tanh": (np.tanh, "np.tanh"),
    "relu": (lambda x: np.maximum(x, 0), "np.maximum(x, 0)"),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.01 * x), "np.where(x>0, x, a*x)"),
    "softmax": (_np_softmax, "stable exp(x-max)/sum"),
    "log_softmax": (_np_log_softmax, "stable x-max-log(sum)"),
    "sigmoid_derivative": (lambda x: (lambda s: s * (1 - s))(_np_sigmoid(x)), "s*(1-s)"),
    "tanh_derivative": (lambda x: 1 - np.tanh(x) ** 2, "1-np.tanh(x)**2"),
}


def _scipy():
    try:
        from scipy import special
    except ImportError:
        return {}
    return {"sigmoid": special.expit, "softmax": lambda x: special.softmax(x, axis=-1),
            "log_softmax": lambda x: special.log_softmax(x, axis=-1)}


def _torch():
    try:
        import torch
    except ImportError:
        return {}
    torch.set_num_threads(1)
    F = torch.nn.functional
    ops = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
           "leaky_relu": lambda t: F.leaky_relu(t, 0.01),
           "softmax": lambda t: torch.softmax(t, -1),
           "log_softmax": lambda t: torch.log_softmax(t, -1)}
    # from_numpy shares memory: the timed call is the op alone, fresh output included.
    return {k: (lambda op: lambda x: op(torch.from_numpy(x)))(op) for k, op in ops.items()}


def _jax():
    # One XLA CPU thread, set before JAX first initialises its backend.
    flags = os.environ.get("XLA_FLAGS", "")
    if "intra_op_parallelism_threads" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1").strip()
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return {}
    jax.config.update("jax_enable_x64", True)
    ops = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu,
           "leaky_relu": lambda v: jax.nn.leaky_relu(v, 0.01),
           "softmax": lambda v: jax.nn.softmax(v, axis=-1),
           "log_softmax": lambda v: jax.nn.log_softmax(v, axis=-1)}
    out = {}
    for name, op in ops.items():
        jitted = jax.jit(op)
        # Inputs are moved to the device once per array (cached), as a JAX user holds them.
        cache = {}

        def call(x, jitted=jitted, cache=cache):
            key = id(x)
            if key not in cache:
                cache.clear()
                cache[key] = (x, jnp.asarray(x))
            return jitted(cache[key][1]).block_until_ready()
        out[name] = call
    return out


def run(functions=None, size=1_000_000, repeats=5, seed=0, write=print):
    functions = functions or FUNCTIONS
    peers = {"scipy": _scipy(), "torch": _torch(), "jax": _jax()}
    fa.set_num_threads(1)
    x = np.random.default_rng(seed).uniform(-10, 10, size)
    from fastact import kernels
    write(f"fastact ({kernels.variant}, 1 thread) vs the best NumPy, SciPy, PyTorch (1 thread) "
          f"and JAX (jit, x64, 1 thread) on {size} float64 elements, fresh output; "
          "ns per element, min of interleaved rounds; '-' = not importable or no such op.")
    cols = ("fastact", "numpy", "scipy", "torch", "jax")
    header = f"{'function':<20} " + " ".join(f"{c:>8}" for c in cols) + "  numpy code"
    write(header)
    write("-" * len(header))
    rows = []
    rng = np.random.default_rng(seed + 1)
    for name in functions:
        impls = {"fastact": getattr(fa, name), "numpy": NUMPY_BEST[name][0]}
        impls.update({peer: ops[name] for peer, ops in peers.items() if name in ops})
        with np.errstate(all="ignore"):
            times = time_interleaved(list(impls.values()), (x,), repeats)
        ns = dict(zip(impls, (t / size * 1e9 for t in times)))
        sample = accuracy_inputs(name, rng)
        hi, lo = exact(name, sample)
        with np.errstate(all="ignore"):
            ulp = {k: max_ulp(np.asarray(f(*sample)), hi, lo) for k, f in impls.items()}
        rows.append({"function": name, "ns": ns, "ulp": ulp})
        cells = " ".join(f"{ns[k]:>8.2f}" if k in ns else f"{'-':>8}" for k in cols)
        write(f"{name:<20} {cells}  {NUMPY_BEST[name][1]}")
    write("")
    write("max ulp error on the sample with tails (x in [-800, 800], subnormal results):")
    write(f"{'function':<20} " + " ".join(f"{c:>8}" for c in cols))
    for row in rows:
        write(f"{row['function']:<20} " + " ".join(
            f"{row['ulp'][k]:>8.3g}" if k in row["ulp"] else f"{'-':>8}" for k in cols))
    return rows
