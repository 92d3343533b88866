"""Thread scaling: the same large call with 1, 2 and 4 fastact threads (output
preallocated, so allocation does not blur the scaling). `softmax_1d` is one row of 4e6
entries, whose chunks the threads share. Float32Input: float32 data on 1 and 2 threads."""

import numpy as np

import fastact
from fastact._bench import time_interleaved as _interleaved  # not a time_ benchmark

from .common import inputs


class Threads:
    params = [["sigmoid", "tanh", "softmax", "softmax_1d"], [1, 2, 4]]
    param_names = ["function", "threads"]

    def setup(self, name, threads):
        shape = (2000, 2000) if name == "softmax" else (4_000_000,)
        name = name.removesuffix("_1d")
        self.f = getattr(fastact, name)
        self.args = inputs(name, shape)
        self.out = np.empty(shape)
        self.before = fastact.get_num_threads()
        fastact.set_num_threads(threads)
        self.f(*self.args, out=self.out)     # warm-up: starts the OpenMP team

    def teardown(self, name, threads):
        fastact.set_num_threads(self.before)

    def time_call(self, name, threads):
        self.f(*self.args, out=self.out)


class Float32Input:
    """A float32 first input (x, or the gradient beside the float64 saved output), which
    the ufuncs widen in blocks inside their loop and the softmax family into its result
    (a row of 1e6): time with 1 and 2 threads, and the float64 call's time over it,
    timed in alternation (1.0: float32 costs nothing)."""
    params = [["sigmoid", "tanh", "relu", "sigmoid_backward", "softmax", "softmax_backward"],
              [1, 2]]
    param_names = ["function", "threads"]
    unit = "x"

    def setup(self, name, threads):
        self.f = getattr(fastact, name)
        args = inputs(name, (1_000_000,))
        self.args64 = args
        self.args32 = (args[0].astype(np.float32),) + args[1:]
        self.out = np.empty(1_000_000)
        self.before = fastact.get_num_threads()
        fastact.set_num_threads(threads)
        self.f(*self.args32, out=self.out)

    def teardown(self, name, threads):
        fastact.set_num_threads(self.before)

    def time_call(self, name, threads):
        self.f(*self.args32, out=self.out)

    def track_float64_over_float32(self, name, threads):
        """The float64 call's time / the float32 call's, with out=."""
        f, out, a32, a64 = self.f, self.out, self.args32, self.args64
        t32, t64 = _interleaved([lambda: f(*a32, out=out), lambda: f(*a64, out=out)], (),
                                repeats=5, target=0.01)
        return t64 / t32
