"""Extension modules of fastact and their compiler flags (metadata is in pyproject.toml).

The kernel source (_kernels_impl.pxi) is compiled once per instruction-set variant; on
x86-64 that is baseline, x86-64-v3 (AVX2 + FMA) and x86-64-v4 (AVX-512), elsewhere one
portable build. kernels.pyx picks a variant at import and splits large calls across an
OpenMP team where the compiler supports OpenMP.
"""

import os
import platform
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

MSVC = sys.platform == "win32"
X86_64 = platform.machine().lower() in ("x86_64", "amd64", "x64")

# Never -ffast-math: it would break the NaN/inf handling and the ulp guarantees.
# -fno-trapping-math lets GCC if-convert the selects in the kernels, so loops vectorize.
BASE_FLAGS = ["/O2"] if MSVC else ["-O3", "-fno-trapping-math"]
VARIANT_FLAGS = {"baseline": []}
if X86_64:
    VARIANT_FLAGS["avx2"] = ["/arch:AVX2"] if MSVC else ["-march=x86-64-v3"]
    VARIANT_FLAGS["avx512"] = ["/arch:AVX512"] if MSVC else ["-march=x86-64-v4"]


def _openmp():
    """(compile, link) flags for OpenMP: none on macOS, whose clang lacks it, or when
    FASTACT_OPENMP=0."""
    if os.environ.get("FASTACT_OPENMP", "1") == "0" or sys.platform == "darwin":
        return [], []
    return (["/openmp"], []) if MSVC else (["-fopenmp"], ["-fopenmp"])


OMP_COMPILE, OMP_LINK = _openmp()

directives = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
}


def ext(name, flags=(), numpy=False, openmp=False, macros=()):
    return Extension(
        f"fastact.{name}",
        [f"fastact/{name}.pyx"],
        include_dirs=[np.get_include()] if numpy else [],
        define_macros=list(macros)
        + ([("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")] if numpy else []),
        extra_compile_args=BASE_FLAGS + list(flags) + (OMP_COMPILE if openmp else []),
        extra_link_args=OMP_LINK if openmp else [],
    )


def variant(isa, flags):
    shown = " ".join(BASE_FLAGS + flags)
    # The flags as a C string literal, for fastact.show_config().
    return ext(f"_kernels_{isa}", flags, macros=[("FASTACT_FLAGS", f'"{shown}"')])


setup(
    ext_modules=cythonize(
        [variant(isa, flags) for isa, flags in VARIANT_FLAGS.items()]
        + [
            ext("kernels", openmp=True),
            ext("_ufuncs", numpy=True),
            ext("_rows", numpy=True),
        ],
        compiler_directives=directives,
    ),
)
