"""`from fastact cimport kernels`: compile a small downstream extension against the
installed package and check it against the Python API."""

import os
import pathlib
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastact
from _extension import build_extension

pytest.importorskip("Cython")

PYX = textwrap.dedent('''
    # cython: language_level=3, boundscheck=False, wraparound=False
    import numpy as np
    from fastact cimport kernels

    UNARY = ["sigmoid", "tanh", "relu", "leaky_relu", "sigmoid_derivative",
             "tanh_derivative", "relu_derivative", "leaky_relu_derivative",
             "softmax", "log_softmax"]
    BINARY = ["sigmoid", "tanh", "relu", "leaky_relu", "softmax", "log_softmax"]

    def apply(str name, double[::1] x, double alpha=0.01):
        """Run one cimported kernel on x without the GIL."""
        result = np.empty(x.shape[0])
        cdef double[::1] out = result
        cdef Py_ssize_t n = x.shape[0]
        cdef int code = UNARY.index(name)
        with nogil:
            if code == 0:
                kernels.sigmoid(&x[0], &out[0], n)
            elif code == 1:
                kernels.tanh(&x[0], &out[0], n)
            elif code == 2:
                kernels.relu(&x[0], &out[0], n)
            elif code == 3:
                kernels.leaky_relu(&x[0], &out[0], n, alpha)
            elif code == 4:
                kernels.sigmoid_derivative(&x[0], &out[0], n)
            elif code == 5:
                kernels.tanh_derivative(&x[0], &out[0], n)
            elif code == 6:
                kernels.relu_derivative(&x[0], &out[0], n)
            elif code == 7:
                kernels.leaky_relu_derivative(&x[0], &out[0], n, alpha)
            elif code == 8:
                kernels.softmax(&x[0], &out[0], n)
            elif code == 9:
                kernels.log_softmax(&x[0], &out[0], n)
        return result

    def backward(str name, double[::1] g, double[::1] y, double alpha=0.01):
        result = np.empty(g.shape[0])
        cdef double[::1] out = result
        cdef Py_ssize_t n = g.shape[0]
        cdef int code = BINARY.index(name)
        with nogil:
            if code == 0:
                kernels.sigmoid_backward(&g[0], &y[0], &out[0], n)
            elif code == 1:
                kernels.tanh_backward(&g[0], &y[0], &out[0], n)
            elif code == 2:
                kernels.relu_backward(&g[0], &y[0], &out[0], n)
            elif code == 3:
                kernels.leaky_relu_backward(&g[0], &y[0], &out[0], n, alpha)
            elif code == 4:
                kernels.softmax_backward(&g[0], &y[0], &out[0], n)
            elif code == 5:
                kernels.log_softmax_backward(&g[0], &y[0], &out[0], n)
        return result
''')

SETUP = textwrap.dedent('''
    from Cython.Build import cythonize
    from setuptools import Extension, setup
    import sys
    setup(ext_modules=cythonize([Extension("downstream", ["downstream.pyx"])],
                                include_path=[sys.argv.pop()], quiet=True))
''')


@pytest.fixture(scope="module")
def downstream(tmp_path_factory):
    d = tmp_path_factory.mktemp("downstream")
    (d / "downstream.pyx").write_text(PYX)
    (d / "setup.py").write_text(SETUP)
    site = str(pathlib.Path(fastact.__file__).resolve().parents[1])
    return build_extension(d, "downstream", [site], dict(os.environ, PYTHONPATH=site))


def test_wheel_ships_cython_api_and_stubs():
    pkg = pathlib.Path(fastact.__file__).parent
    for name in ("kernels.pxd", "_math.pxd", "py.typed", "_ufuncs.pyi", "_rows.pyi"):
        assert (pkg / name).is_file(), name


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "sigmoid_derivative",
                                  "tanh_derivative", "relu_derivative", "leaky_relu",
                                  "leaky_relu_derivative", "softmax", "log_softmax"])
def test_cimported_kernels_match_python_api(downstream, name):
    x = np.random.default_rng(5).normal(scale=4, size=257)
    if name.startswith("leaky"):
        assert_array_equal(downstream.apply(name, x, 0.2), getattr(fastact, name)(x, 0.2))
    assert_array_equal(downstream.apply(name, x), getattr(fastact, name)(x))


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu", "softmax",
                                  "log_softmax"])
def test_cimported_backward_match_python_api(downstream, name):
    rng = np.random.default_rng(6)
    g = rng.normal(size=100)
    y = getattr(fastact, name)(rng.normal(size=100))
    assert_array_equal(downstream.backward(name, g, y), getattr(fastact, f"{name}_backward")(g, y))
