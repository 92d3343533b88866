"""What fastact is measured against, by `python -m fastact bench` and the asv suite.

- NAIVE: the article's NumPy formulas (``1/(1+np.exp(-x))``, ``s*(1-s)``,
  ``2*sigmoid(2*x)-1``, ``np.vectorize`` ReLU, the unshifted softmax);
- BEST: the best plain NumPy a careful user writes (``np.tanh``, ``np.maximum``,
  ``np.where``, the max-shifted softmax, tail-safe derivative formulas);
- peers(): SciPy, PyTorch (CPU, one thread) and JAX (jit, x64, one thread) where importable.

Each entry maps a public fastact name to ``(callable, code)``; the callable takes the same
positional inputs as the fastact function and works over the last axis for the softmax
family.
"""

from __future__ import annotations

import os

import numpy as np

A = 0.01  # the article's leaky slope


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def tanh(x):
    return 2 * sigmoid(2 * x) - 1


relu = np.vectorize(lambda x: x if x > 0 else 0, otypes=[np.float64])
leaky_relu = np.vectorize(lambda x: x if x > 0 else A * x, otypes=[np.float64])
relu_derivative = np.vectorize(lambda x: 1 if x > 0 else 0, otypes=[np.float64])
leaky_relu_derivative = np.vectorize(lambda x: 1 if x > 0 else A, otypes=[np.float64])


def sigmoid_derivative(x):
    return sigmoid(x) * (1 - sigmoid(x))


def tanh_derivative(x):
    return 1 - tanh(x) ** 2


def softmax(x):
    z = np.exp(x)
    return z / z.sum(axis=-1, keepdims=True)


def log_softmax(x):
    return np.log(softmax(x))


def softmax_jacobian(x):
    s = softmax(x)
    return s[..., :, None] * (np.eye(s.shape[-1]) - s[..., None, :])


def sigmoid_backward(g, y):
    return g * y * (1 - y)


def tanh_backward(g, y):
    return g * (1 - y**2)


def relu_backward(g, y):
    return g * relu_derivative(y)


def leaky_relu_backward(g, y):
    return g * leaky_relu_derivative(y)


def softmax_backward(g, s):
    return s * (g - (g * s).sum(axis=-1, keepdims=True))


def log_softmax_backward(g, o):
    return g - np.exp(o) * g.sum(axis=-1, keepdims=True)


NAIVE = {
    "sigmoid": (sigmoid, "1/(1+np.exp(-x))"),
    "tanh": (tanh, "2*sigmoid(2*x)-1"),
    "relu": (relu, "np.vectorize(x if x>0 else 0)"),
    "leaky_relu": (leaky_relu, "np.vectorize(x if x>0 else a*x)"),
    "softmax": (softmax, "z=np.exp(x); z/z.sum()"),
    "log_softmax": (log_softmax, "np.log(softmax(x))"),
    "sigmoid_derivative": (sigmoid_derivative, "s*(1-s)"),
    "tanh_derivative": (tanh_derivative, "1-tanh(x)**2"),
    "relu_derivative": (relu_derivative, "np.vectorize(1 if x>0 else 0)"),
    "leaky_relu_derivative": (leaky_relu_derivative, "np.vectorize(1 if x>0 else a)"),
    "softmax_jacobian": (softmax_jacobian, "s[:,None]*(eye-s[None,:])"),
    "sigmoid_backward": (sigmoid_backward, "g*y*(1-y)"),
    "tanh_backward": (tanh_backward, "g*(1-y**2)"),
    "relu_backward": (relu_backward, "g*relu_derivative(y)"),
    "leaky_relu_backward": (leaky_relu_backward, "g*leaky_relu_derivative(y)"),
    "softmax_backward": (softmax_backward, "s*(g-(g*s).sum())"),
    "log_softmax_backward": (log_softmax_backward, "g-np.exp(o)*g.sum()"),
}

# Naive baselines that call a Python function per element (np.vectorize): ~100x slower.
PER_ELEMENT = {"relu", "leaky_relu", "relu_derivative", "leaky_relu_derivative",
               "relu_backward", "leaky_relu_backward"}


# ---------------------------------------------------------------- best plain NumPy

def _stable_softmax(x, axis=-1):
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def _stable_log_softmax(x, axis=-1):
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _sigmoid_derivative_tails(x):
    t = np.exp(-np.abs(x))
    return t / (1 + t) ** 2


BEST = {
    "sigmoid": (sigmoid, "1/(1+np.exp(-x))"),
    "tanh": (np.tanh, "np.tanh(x)"),
    "relu": (lambda x: np.maximum(x, 0), "np.maximum(x, 0)"),
    "leaky_relu": (lambda x: np.where(x > 0, x, A * x), "np.where(x>0, x, a*x)"),
    "softmax": (_stable_softmax, "exp(x-max)/sum"),
    "log_softmax": (_stable_log_softmax, "x-max-log(sum(exp))"),
    "sigmoid_derivative": (_sigmoid_derivative_tails, "t/(1+t)**2, t=exp(-|x|)"),
    "tanh_derivative": (lambda x: 1 / np.cosh(x) ** 2, "1/np.cosh(x)**2"),
    "relu_derivative": (lambda x: (x > 0).astype(np.float64), "(x>0).astype(float)"),
    "leaky_relu_derivative": (lambda x: np.where(x > 0, 1.0, A), "np.where(x>0, 1, a)"),
    "softmax_jacobian": (lambda x: (lambda s: s[..., :, None] * (np.eye(s.shape[-1])
                                                                 - s[..., None, :]))(
        _stable_softmax(x)), "stable s[:,None]*(eye-s[None,:])"),
    "sigmoid_backward": (sigmoid_backward, "g*y*(1-y)"),
    "tanh_backward": (lambda g, y: g * (1 - y) * (1 + y), "g*(1-y)*(1+y)"),
    "relu_backward": (lambda g, y: np.where(y > 0, g, 0.0), "np.where(y>0, g, 0)"),
    "leaky_relu_backward": (lambda g, y: np.where(y > 0, g, A * g), "np.where(y>0, g, a*g)"),
    "softmax_backward": (softmax_backward, "s*(g-(g*s).sum())"),
    "log_softmax_backward": (log_softmax_backward, "g-np.exp(o)*g.sum()"),
}


# ---------------------------------------------------------------- peers

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
           "leaky_relu": lambda t: F.leaky_relu(t, A),
           "softmax": lambda t: torch.softmax(t, -1),
           "log_softmax": lambda t: torch.log_softmax(t, -1)}
    # from_numpy shares memory: the timed call is the op alone, fresh output included.
    return {k: (lambda op: lambda x: op(torch.from_numpy(x)).numpy())(op)
            for k, op in ops.items()}


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
           "leaky_relu": lambda v: jax.nn.leaky_relu(v, A),
           "softmax": lambda v: jax.nn.softmax(v, axis=-1),
           "log_softmax": lambda v: jax.nn.log_softmax(v, axis=-1)}
    out = {}
    for name, op in ops.items():
        jitted = jax.jit(op)
        cache = {}

        def call(x, jitted=jitted, cache=cache):
            # The input moves to the device once per array, as a JAX user holds it.
            if id(x) not in cache:
                cache.clear()
                cache[id(x)] = (x, jnp.asarray(x))
            return jitted(cache[id(x)][1]).block_until_ready()
        out[name] = call
    return out


_PEERS = None


def peers():
    """{"scipy": {name: callable}, "torch": {...}, "jax": {...}}, empty where missing."""
    global _PEERS
    if _PEERS is None:
        _PEERS = {"scipy": _scipy(), "torch": _torch(), "jax": _jax()}
    return _PEERS
