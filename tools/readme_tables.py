"""Print the README's speed and accuracy tables against NumPy, SciPy, PyTorch and JAX as
Markdown: the median of five runs of `python -m fastact bench --json` (one thread, 1e6,
with whatever peers import; the machines are shared and noisy).

    python tools/readme_tables.py

The speed issue's targets, as ratios, come from tools/speed_targets.py.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

FUNCTIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "softmax", "log_softmax",
             "sigmoid_derivative", "tanh_derivative"]


def bench(env_extra, runs=5):
    env = dict(os.environ, **env_extra)
    cmd = [sys.executable, "-m", "fastact", "bench", "--threads", "1", "--sizes", "1e6",
           "--functions", ",".join(FUNCTIONS), "--json"]
    out = []
    for _ in range(runs):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        out.append(json.loads(proc.stdout))
    return out


def median_ns(runs, function, impl):
    vals = [r["ns_per_element"][impl] for data in runs for r in data["results"]
            if r["function"] == function and impl in r["ns_per_element"]]
    return statistics.median(vals) if vals else None


def cell(v, fmt=".2f"):
    return "–" if v is None else format(v, fmt)


def peers():
    best = bench({})
    avx2 = bench({"FASTACT_ISA": "avx2"})
    impls = ["numpy_best", "numpy_naive", "scipy", "torch", "jax"]
    print(f"{best[0]['machine']}\n")
    print("| function | fastact avx512 | fastact avx2 | NumPy best | NumPy naive | SciPy "
          "| PyTorch | JAX jit |")
    print("|---|---|---|---|---|---|---|---|")
    for f in FUNCTIONS:
        row = [median_ns(best, f, "fastact"), median_ns(avx2, f, "fastact")]
        row += [median_ns(best, f, i) for i in impls]
        print(f"| {f} | " + " | ".join(cell(v) for v in row) + " |")
    print("\n| function | fastact | NumPy naive | NumPy best | SciPy | PyTorch | JAX |")
    print("|---|---|---|---|---|---|---|")
    for f in FUNCTIONS:
        ulp = next(r["max_ulp"] for r in best[0]["results"] if r["function"] == f)
        print(f"| {f} | " + " | ".join(cell(ulp.get(i), ".2g") for i in
                                       ["fastact", "numpy_naive", "numpy_best", "scipy",
                                        "torch", "jax"]) + " |")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    peers()
