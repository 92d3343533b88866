"""Print the README's speed and accuracy tables as Markdown: the median of several runs of
`python -m fastact bench --json` (the machines are shared and noisy).

    python tools/readme_tables.py peers      # one thread, 1e6, with whatever peers import
    python tools/readme_tables.py avx2       # an AVX2-only CPU played by this one

`avx2` runs the bench under FASTACT_ISA=avx2 and NPY_ENABLE_CPU_FEATURES limited to AVX2,
so NumPy's float64 exp and tanh lose their AVX-512 code paths.
"""

import json
import os
import statistics
import subprocess
import sys

FUNCTIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "softmax", "log_softmax",
             "sigmoid_derivative", "tanh_derivative"]
NUMPY_AVX2 = "SSE SSE2 SSE3 SSSE3 SSE41 POPCNT SSE42 AVX F16C FMA3 AVX2"


def bench(env_extra, runs=3):
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


def avx2():
    runs = bench({"FASTACT_ISA": "avx2", "NPY_ENABLE_CPU_FEATURES": NUMPY_AVX2})
    print("| function | fastact avx2 | NumPy naive | NumPy best | × naive | × best |")
    print("|---|---|---|---|---|---|")
    for f in FUNCTIONS:
        ours = median_ns(runs, f, "fastact")
        naive, best = median_ns(runs, f, "numpy_naive"), median_ns(runs, f, "numpy_best")
        ratio = lambda t: None if t is None else t / ours  # noqa: E731
        print(f"| {f} | {cell(ours)} | {cell(naive)} | {cell(best)} | "
              f"{cell(ratio(naive), '.1f')}× | {cell(ratio(best), '.1f')}× |")


if __name__ == "__main__":
    {"peers": peers, "avx2": avx2}[sys.argv[1] if len(sys.argv) > 1 else "peers"]()
