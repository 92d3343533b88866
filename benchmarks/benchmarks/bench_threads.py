"""Thread scaling: the same large call with 1, 2 and 4 fastact threads (output
preallocated, so allocation does not blur the scaling). `softmax_1d` is one row of 4e6
entries, whose chunks the threads share."""

import numpy as np

import fastact

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
