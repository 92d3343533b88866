"""Extension modules of fastact and their compiler flags (metadata is in pyproject.toml)."""

import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

# Kernels want -O3; never -ffast-math, which would break the NaN/inf and ulp guarantees.
if sys.platform == "win32":
    extra_compile_args = ["/O2"]
else:
    extra_compile_args = ["-O3", "-fno-trapping-math"]

directives = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
}


def ext(name, numpy=False):
    return Extension(
        f"fastact.{name}",
        [f"fastact/{name}.pyx"],
        include_dirs=[np.get_include()] if numpy else [],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")] if numpy else [],
        extra_compile_args=extra_compile_args,
    )


setup(
    ext_modules=cythonize(
        [ext("kernels"), ext("_ufuncs", numpy=True), ext("_rows")],
        compiler_directives=directives,
    ),
)
