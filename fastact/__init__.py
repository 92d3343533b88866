"""fastact: fast, accurate neural-network activation functions for NumPy.

Elementwise functions are NumPy ufuncs (broadcasting, ``out=``, ``where=``, casting);
the softmax family takes ``axis`` (int, tuple or None). Cython code can call the
kernels directly: ``from fastact cimport kernels``.
"""

from pkgutil import extend_path as _extend_path

# `python -m fastact` in a source checkout imports this directory (the current directory
# comes first on sys.path), which has no compiled modules: extend the package path with
# the installed copy further along sys.path, so that they are found there.
__path__ = _extend_path(__path__, __name__)

from fastact._ufuncs import (  # noqa: E402
    relu,
    relu_backward,
    relu_derivative,
    sigmoid,
    sigmoid_backward,
    sigmoid_derivative,
    tanh,
    tanh_backward,
    tanh_derivative,
)
from fastact._leaky import leaky_relu, leaky_relu_backward, leaky_relu_derivative
from fastact._softmax import (
    log_softmax,
    log_softmax_backward,
    softmax,
    softmax_backward,
    softmax_jacobian,
)
# Configuration (re-exported; __all__ lists the activation functions only).
from fastact._config import show_config as show_config
from fastact.kernels import get_num_threads as get_num_threads
from fastact.kernels import set_num_threads as set_num_threads

__version__ = "0.1.0"


def _warn_about_environment():
    import warnings

    from fastact import kernels

    for message in kernels._import_warnings:
        # stacklevel 3: past this function and the package's own frame, importlib's
        # frames skipped, to the line that imported fastact
        warnings.warn(message, RuntimeWarning, stacklevel=3)
    kernels._import_warnings.clear()


_warn_about_environment()

__all__ = [
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "softmax",
    "log_softmax",
    "sigmoid_derivative",
    "tanh_derivative",
    "relu_derivative",
    "leaky_relu_derivative",
    "softmax_jacobian",
    "sigmoid_backward",
    "tanh_backward",
    "relu_backward",
    "leaky_relu_backward",
    "softmax_backward",
    "log_softmax_backward",
]
