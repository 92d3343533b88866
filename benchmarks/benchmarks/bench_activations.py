"""Every public fastact function against the NumPy versions people write by hand.

One class per function (generated below), each with
- time_call / peakmem_call over implementation x shape x output mode: `fresh` allocates
  the result, `out` writes into a preallocated array (fastact only: the NumPy formulas
  have no out=, so asv skips those combinations);
- track_speedup over shape: a baseline's time over fastact's, timed in alternation, for
  each NumPy version and each peer (PyTorch, JAX) that is installed, so asv plots the
  ratio across commits.
fastact runs one thread here, as NumPy and the peers do (bench_threads.py measures the
scaling).
An import-time guard fails the suite when a public function has no benchmark class.
"""

import numpy as np

import fastact
from fastact import _impls
from fastact._bench import time_interleaved as _interleaved  # not a time_ benchmark

from .common import PER_ELEMENT_MAX, implementation, inputs, output_shape

IMPLEMENTATIONS = ["fastact", "numpy_naive", "numpy_best", "scipy", "torch", "jax"]
ELEMENTWISE = [(10,), (1_000,), (100_000,), (1_000_000,)]
# (batch, classes) rows for the softmax family, plus long 1-D slices; rows of 128 (an
# attention row) sit between the short-row path (< 32) and the 32-lane sums (>= 256).
ROWS = [(10,), (1_000,), (1_000_000,), (256, 10), (2048, 128), (1000, 1000)]

# The shapes each public function is benchmarked on. A new public function must be added
# here (the guard at the bottom fails the suite otherwise).
SHAPES = {
    "sigmoid": ELEMENTWISE,
    "tanh": ELEMENTWISE,
    "relu": ELEMENTWISE,
    "leaky_relu": ELEMENTWISE,
    "softmax": ROWS,
    "log_softmax": ROWS,
    "sigmoid_derivative": ELEMENTWISE,
    "tanh_derivative": ELEMENTWISE,
    "relu_derivative": ELEMENTWISE,
    "leaky_relu_derivative": ELEMENTWISE,
    "softmax_jacobian": [(10,), (256, 10), (1000, 100)],   # output is n times larger
    "sigmoid_backward": ELEMENTWISE,
    "tanh_backward": ELEMENTWISE,
    "relu_backward": ELEMENTWISE,
    "leaky_relu_backward": ELEMENTWISE,
    "softmax_backward": ROWS,
    "log_softmax_backward": ROWS,
}


class _Activation:
    function = None
    threads = None          # fastact's thread count before setup
    param_names = ["implementation", "shape", "output"]
    timeout = 120

    def setup(self, impl, shape, output):
        name = self.function
        self.f = implementation(name, impl)
        if (impl == "numpy_naive" and name in _impls.PER_ELEMENT
                and np.prod(shape) > PER_ELEMENT_MAX):
            raise NotImplementedError("np.vectorize baseline: too slow at this size")
        if output == "out" and impl != "fastact":
            raise NotImplementedError("only fastact takes out=")
        self.threads = fastact.get_num_threads()
        fastact.set_num_threads(1)
        self.args = inputs(name, shape)
        self.kwargs = {"out": np.empty(output_shape(name, shape))} if output == "out" else {}
        np.seterr(all="ignore")
        self.f(*self.args, **self.kwargs)          # warm-up (JAX compiles here)

    def teardown(self, *params):
        if self.threads is not None:        # asv tears down skipped setups too
            fastact.set_num_threads(self.threads)

    def time_call(self, impl, shape, output):
        self.f(*self.args, **self.kwargs)

    def peakmem_call(self, impl, shape, output):
        self.f(*self.args, **self.kwargs)


class _Speedup:
    function = None
    threads = None
    param_names = ["baseline", "shape"]
    unit = "x"
    timeout = 120

    def setup(self, baseline, shape):
        name = self.function
        if (baseline == "numpy_naive" and name in _impls.PER_ELEMENT
                and np.prod(shape) > PER_ELEMENT_MAX):
            raise NotImplementedError("np.vectorize baseline: too slow at this size")
        self.ours = implementation(name, "fastact")
        self.theirs = implementation(name, baseline)
        self.args = inputs(name, shape)
        np.seterr(all="ignore")
        self.threads = fastact.get_num_threads()
        fastact.set_num_threads(1)

    def teardown(self, *params):
        if self.threads is not None:        # asv tears down skipped setups too
            fastact.set_num_threads(self.threads)

    def track_speedup(self, baseline, shape):
        """Their time / fastact's: min over 5 rounds of ~10 ms per implementation, the
        two timed in alternation so both see the same machine state."""
        ours, theirs = _interleaved([self.ours, self.theirs], self.args, repeats=5,
                                        target=0.01)
        return theirs / ours


def _class_name(name):
    return "".join(part.capitalize() for part in name.split("_"))


# Guard: fail the whole suite when a public function has no benchmark.
_missing = sorted(set(fastact.__all__) - set(SHAPES))
if _missing:
    raise ImportError(f"public fastact functions without a benchmark (add them to SHAPES "
                      f"in {__name__}): {_missing}")

for _name, _shapes in SHAPES.items():
    _cls = _class_name(_name)
    globals()[_cls] = type(_cls, (_Activation,), {
        "function": _name,
        "params": [IMPLEMENTATIONS, _shapes, ["fresh", "out"]],
    })
    globals()[_cls + "Speedup"] = type(_cls + "Speedup", (_Speedup,), {
        "function": _name,
        "params": [["numpy_naive", "numpy_best", "torch", "jax"], _shapes],
    })
del _name, _shapes, _cls


class SoftmaxFirstAxis:
    """softmax and log_softmax along axis 0 of a C-contiguous array (the column kernels,
    no transposed copy): fastact's time, and the stable NumPy version's time over it."""
    params = [["softmax", "log_softmax"], [(1000, 1000), (128, 2000), (2000, 128)]]
    param_names = ["function", "shape"]
    timeout = 120
    unit = "x"

    def setup(self, name, shape):
        self.threads = fastact.get_num_threads()
        fastact.set_num_threads(1)
        self.x = inputs(name, shape)[0]
        self.out = np.empty(shape)
        self.ours = lambda x: getattr(fastact, name)(x, axis=0, out=self.out)
        best = implementation(name, "numpy_best")      # the stable NumPy version
        self.theirs = lambda x: best(x, axis=0)

    def teardown(self, *params):
        fastact.set_num_threads(self.threads)

    def time_out(self, name, shape):
        self.ours(self.x)

    def track_speedup(self, name, shape):
        """The stable NumPy time / fastact's (with out=), timed in alternation."""
        ours, theirs = _interleaved([self.ours, self.theirs], (self.x,), repeats=5,
                                    target=0.01)
        return theirs / ours
