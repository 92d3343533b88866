"""A/B the kernel source of a git revision against the working tree, in one process.

On a shared machine two runs minutes apart differ by +-15 % even for identical code, so
comparing two builds in two processes cannot resolve a 5 % change. This tool compiles
the kernel source (_kernels_impl.pxi, the .pxi files it includes, and the _math.pxd and
_table.pxd beside them) of REV and of the working tree into scratch extension modules,
one per side and instruction set, with the flags the installed fastact was built with,
loads them all into one process and times them in alternation: the median of the
per-round ratios REV / working tree is the speedup of the working tree (> 1: faster).
"same bits" says whether both sides computed identical outputs.

    python tools/ab_kernels.py HEAD~1                       # every function, avx2 + avx512
    python tools/ab_kernels.py main --isa avx2 --functions softmax,tanh --shape 64x1000
    python tools/ab_kernels.py HEAD~2 --against HEAD~1      # two revisions
    python tools/ab_kernels.py HEAD~1 --functions log_softmax_backward,softmax_backward
    python tools/ab_kernels.py HEAD~1 --functions softmax_cols --shape 1000x1000

The backward kernels are not in the default list; they take the input as both the
gradient and the saved output. The column kernels (softmax_cols, log_softmax_cols, not
in the default list either) normalise the ROWSxENTRIES array along its first axis.

The scratch modules call the kernels through function pointers, as kernels.pyx does: a
direct call lets the compiler inline a whole kernel into the timing loop, which moved
some results by 20 % in either direction.

Needs Cython, setuptools and a C compiler (as the package build does); the installed
fastact only supplies its compiler flags.
"""

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The kernel source: _kernels_impl.pxi and the .pxi files it includes (whatever the
# revision has), with these beside them.
HEADERS = ["_math.pxd", "_table.pxd"]
ELEMENTWISE = ["sigmoid", "tanh", "relu", "sigmoid_derivative", "tanh_derivative"]
ROWS = ["softmax", "log_softmax"]
# Backward rows, timed with the input as both the gradient and the saved output.
BACKWARD = ["softmax_backward", "log_softmax_backward"]
# Softmax over the first axis of the ROWSxENTRIES array (the column kernels).
COLUMNS = ["softmax_cols", "log_softmax_cols"]

# The scratch module: the kernel source itself, and one entry point that times `reps`
# calls of one kernel without the GIL (one branch per function of ELEMENTWISE, ROWS,
# BACKWARD and COLUMNS).
_BRANCHES = ([f'if name == "{f}":\n        unary = {f}' for f in ELEMENTWISE]
             + [f'if name == "{f}":\n        batch = {f}_rows' for f in ROWS]
             + [f'if name == "{f}":\n        batch2 = {f}_rows' for f in BACKWARD]
             + [f'if name == "{f}":\n        cols = {f}' for f in COLUMNS])
MODULE = """
include "_kernels_impl.pxi"
from fastact._table cimport unary_k, rows_k, rows2_k, cols_k

def run(str name, double[:, ::1] x, double[:, ::1] out, int reps):
    cdef int r
    cdef Py_ssize_t rows = x.shape[0], n = x.shape[1]
    cdef unary_k unary = NULL
    cdef rows_k batch = NULL
    cdef rows2_k batch2 = NULL
    cdef cols_k cols = NULL
    """ + "\n    el".join(_BRANCHES) + """
    else:
        raise ValueError(f"no kernel {name!r}")
    with nogil:
        for r in range(reps):
            if batch != NULL:
                batch(&x[0, 0], &out[0, 0], rows, n)
            elif batch2 != NULL:
                batch2(&x[0, 0], &x[0, 0], &out[0, 0], rows, n)
            elif cols != NULL:
                cols(&x[0, 0], &out[0, 0], rows, n, n)
            else:
                unary(&x[0, 0], &out[0, 0], rows * n)
"""


def _git(*args):
    """git's output for `args` in the repository; exits with git's message on failure."""
    proc = subprocess.run(["git", "-C", ROOT, *args], check=False, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        sys.exit(f"ab_kernels: git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def sources(rev):
    """The kernel source files of `rev` (None: the working tree)."""
    if rev is None:
        names = os.listdir(os.path.join(ROOT, "fastact"))
    else:
        names = _git("ls-tree", "--name-only", f"{rev}:fastact").split()
    return sorted(n for n in names if n.endswith(".pxi")) + HEADERS


def export(rev, dest):
    """The kernel source of `rev` (None: the working tree) as dest/fastact/."""
    pkg = os.path.join(dest, "fastact")
    os.makedirs(pkg)
    open(os.path.join(pkg, "__init__.pxd"), "w").close()
    for name in sources(rev):
        if rev is None:
            with open(os.path.join(ROOT, "fastact", name)) as f:
                text = f.read()
        else:
            text = _git("show", f"{rev}:fastact/{name}")
        with open(os.path.join(pkg, name), "w") as f:
            f.write(text)


def build(workdir, sides, isas):
    """Compile one module per (side, isa) in workdir; returns their names."""
    from fastact._build_info import VARIANT_FLAGS
    missing = [isa for isa in isas if isa not in VARIANT_FLAGS]
    if missing:
        sys.exit(f"ab_kernels: no {', '.join(missing)} variant in this build; "
                 f"choose from {', '.join(VARIANT_FLAGS)}")
    setup = ["from setuptools import Extension, setup",
             "from Cython.Build import cythonize",
             "exts = []"]
    names = []
    for side in sides:
        for isa in isas:
            name = f"ab_{side}_{isa}"
            src = os.path.join(workdir, side, "fastact", name + ".pyx")
            with open(src, "w") as f:
                f.write(MODULE)
            flags = VARIANT_FLAGS[isa].split()
            setup.append(f"exts.append(cythonize([Extension({name!r}, [{src!r}], "
                         f"extra_compile_args={flags!r})], include_path="
                         f"[{os.path.join(workdir, side)!r}, "
                         f"{os.path.join(workdir, side, 'fastact')!r}], quiet=True, "
                         "compiler_directives=dict(language_level=3, boundscheck=False, "
                         "wraparound=False, cdivision=True, initializedcheck=False))[0])")
            names.append(name)
    setup.append("setup(ext_modules=exts, script_args=['build_ext', '--inplace', '-q'])")
    script = os.path.join(workdir, "build_ab.py")
    with open(script, "w") as f:
        f.write("\n".join(setup) + "\n")
    subprocess.run([sys.executable, script], cwd=workdir, check=True)
    return names


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="git revision to compare the working tree with")
    parser.add_argument("--against", default=None,
                        help="a second revision in place of the working tree")
    parser.add_argument("--isa", default="avx2,avx512",
                        help="comma-separated variants (default: avx2,avx512)")
    parser.add_argument("--functions", default=",".join(ELEMENTWISE + ROWS))
    parser.add_argument("--shape", default="64x1000",
                        help="rows x entries (elementwise functions use all of them)")
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args(argv)
    isas = args.isa.split(",")
    functions = args.functions.split(",")
    shape = tuple(int(v) for v in args.shape.lower().split("x"))
    if len(shape) != 2:
        parser.error("--shape takes ROWSxENTRIES, e.g. 64x1000")
    # ignore_cleanup_errors: on Windows the loaded modules cannot be deleted
    with tempfile.TemporaryDirectory(prefix="fastact-ab-", ignore_cleanup_errors=True) as workdir:
        export(args.rev, os.path.join(workdir, "rev"))
        export(args.against, os.path.join(workdir, "tree"))
        build(workdir, ["rev", "tree"], isas)
        sys.path.insert(0, workdir)
        mods = {(side, isa): importlib.import_module(f"ab_{side}_{isa}")
                for side in ("rev", "tree") for isa in isas}
        rng = np.random.default_rng(0)
        x = rng.normal(scale=3, size=shape)
        out = {"rev": np.empty_like(x), "tree": np.empty_like(x)}
        reps = max(1, 2_000_000 // x.size)
        other = args.against or "the working tree"
        print(f"{args.rev} vs {other}, shape {shape}, median of {args.rounds} rounds "
              f"(ratio > 1: {other} is faster)")
        print("| isa | function | rev ns/el | tree ns/el | rev / tree | same bits |")
        print("|---|---|---|---|---|---|")
        for isa in isas:
            for name in functions:
                times = {"rev": [], "tree": []}
                for k in range(args.rounds):
                    # alternate which side goes first, so neither always runs warm
                    for side in (("rev", "tree"), ("tree", "rev"))[k % 2]:
                        t = time.perf_counter()
                        mods[side, isa].run(name, x, out[side], reps)
                        times[side].append((time.perf_counter() - t) / reps / x.size * 1e9)
                ratio = statistics.median(a / b for a, b in zip(times["rev"], times["tree"]))
                same = np.array_equal(out["rev"], out["tree"], equal_nan=True)
                print(f"| {isa} | {name} | {min(times['rev']):.3f} | "
                      f"{min(times['tree']):.3f} | {ratio:.3f} | {'yes' if same else 'no'} |")


if __name__ == "__main__":
    main()
