"""The NumPy code people write by hand, as benchmark baselines: the article's formulas
(``1/(1+np.exp(-x))``, ``s*(1-s)``, ``2*sigmoid(2*x)-1``, ``np.vectorize`` ReLU, the
unshifted softmax), applied over the last axis for the softmax family.

Each entry maps a public fastact name to ``(callable, formula)``; the callable takes the
same positional inputs as the fastact function.
"""

from __future__ import annotations

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


BASELINES = {
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

# Baselines that call a Python function per element (np.vectorize): ~100x slower.
PER_ELEMENT = {name for name, (_, formula) in BASELINES.items() if "vectorize" in formula
               or name in ("relu_backward", "leaky_relu_backward")}
