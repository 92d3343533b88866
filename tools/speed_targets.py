"""The speed issue's targets, each measured as a ratio of fastact against the baseline the
target names, both timed in alternation in one run (float64, one thread unless said).

    python tools/speed_targets.py                # this CPU as it is
    python tools/speed_targets.py --avx2         # NumPy and fastact held to AVX2
    python tools/speed_targets.py --rounds 7
    python tools/speed_targets.py --keep-memory  # glibc keeps freed blocks mapped

`--avx2` runs under FASTACT_ISA=avx2 and NPY_ENABLE_CPU_FEATURES limited to AVX2, so NumPy's
float64 exp and tanh lose their AVX-512 code paths (an AVX2-only CPU played by this one).
`--keep-memory` runs under GLIBC_TUNABLES that keep glibc from handing freed blocks of up
to 32 MiB back to the kernel, so that no fresh array (fastact's outputs, NumPy's
temporaries) page-faults; by default whether one does depends on the allocator's state.
The machines are shared and noisy: every ratio is the median over --rounds rounds. Peers
(PyTorch, JAX) are timed where they import, one thread each, as in `python -m fastact bench`,
and left out under --avx2, which cannot hold them to AVX2.
"""

import argparse
import functools
import os
import statistics
import sys

import numpy as np

import fastact as fa
from fastact import _bench, _impls
from fastact.__main__ import _positive

NUMPY_AVX2 = "SSE SSE2 SSE3 SSSE3 SSE41 POPCNT SSE42 AVX F16C FMA3 AVX2"
KEEP_MEMORY = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728"


# The stable NumPy formulas the issue names, as the bench has them.
_stable_softmax = _impls.BEST["softmax"][0]
_stable_log_softmax = _impls.BEST["log_softmax"][0]


def _np_sigmoid_out(x, o):
    np.negative(x, out=o)
    np.exp(o, out=o)
    np.add(o, 1.0, out=o)
    return np.divide(1.0, o, out=o)


def _np_leaky_out(x, o):
    np.multiply(x, _impls.A, out=o)
    return np.copyto(o, x, where=x > 0)


def _torch_threads(n):
    # PyTorch shares the OpenMP runtime with fastact: its thread setting is also the cap
    # on fastact's team, so every timed call sets the one it needs.
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def _threads(n, f):
    def call():
        _torch_threads(n)
        fa.set_num_threads(n)
        return f()
    return call


def _one_thread(f):
    def call():
        _torch_threads(1)
        return f()
    return call


def _data():
    rng = np.random.default_rng(0)
    return rng.uniform(-10, 10, 1_000_000), rng.normal(scale=3, size=(1000, 1000))


def numpy_targets():
    x, rows = _data()
    o, orows = np.empty_like(x), np.empty_like(rows)
    a = _impls.A
    return [
        ("sigmoid vs 1/(1+np.exp(-x))", lambda: fa.sigmoid(x), lambda: 1 / (1 + np.exp(-x)), 12),
        ("tanh vs np.tanh", lambda: fa.tanh(x), lambda: np.tanh(x), 15),
        ("leaky_relu vs np.where(x > 0, x, a*x)", lambda: fa.leaky_relu(x, a),
         lambda: np.where(x > 0, x, a * x), 6),
        ("relu vs np.maximum(x, 0)", lambda: fa.relu(x), lambda: np.maximum(x, 0), 1),
        ("softmax 1-D vs stable NumPy", lambda: fa.softmax(x), lambda: _stable_softmax(x), 5),
        ("softmax 1000x1000 vs stable NumPy", lambda: fa.softmax(rows),
         lambda: _stable_softmax(rows), 5),
        ("log_softmax 1-D vs stable NumPy", lambda: fa.log_softmax(x),
         lambda: _stable_log_softmax(x), 5),
        ("log_softmax 1000x1000 vs stable NumPy", lambda: fa.log_softmax(rows),
         lambda: _stable_log_softmax(rows), 5),
        ("sigmoid_derivative vs the article's s*(1-s)", lambda: fa.sigmoid_derivative(x),
         lambda: _impls.NAIVE["sigmoid_derivative"][0](x), 10),
        ("tanh_derivative vs 1 - np.tanh(x)**2", lambda: fa.tanh_derivative(x),
         lambda: 1 - np.tanh(x) ** 2, 10),
        ("sigmoid out= vs NumPy out=", lambda: fa.sigmoid(x, out=o),
         lambda: _np_sigmoid_out(x, o), 12),
        ("tanh out= vs np.tanh out=", lambda: fa.tanh(x, out=o), lambda: np.tanh(x, out=o), 15),
        ("leaky_relu out= vs NumPy out=", lambda: fa.leaky_relu(x, a, out=o),
         lambda: _np_leaky_out(x, o), 6),
        ("relu out= vs np.maximum out=", lambda: fa.relu(x, out=o),
         lambda: np.maximum(x, 0, out=o), 1),
        ("softmax 1000x1000 out= vs stable NumPy", lambda: fa.softmax(rows, out=orows),
         lambda: _stable_softmax(rows), 5),
    ]


def short_row_targets():
    # Not a goal of the issue, a floor: a classifier's rows (10 classes) are no slower
    # than NumPy's formulas.
    x = np.random.default_rng(4).normal(scale=3, size=(4096, 10))
    s = fa.softmax(x)
    g = np.random.default_rng(5).normal(size=x.shape)
    return [
        ("softmax 4096x10 vs stable NumPy", lambda: fa.softmax(x), lambda: _stable_softmax(x), 1),
        ("log_softmax 4096x10 vs stable NumPy", lambda: fa.log_softmax(x),
         lambda: _stable_log_softmax(x), 1),
        ("softmax_backward 4096x10 vs s*(g-(g*s).sum())", lambda: fa.softmax_backward(g, s),
         lambda: s * (g - (g * s).sum(axis=-1, keepdims=True)), 1),
    ]


def thread_targets():
    rng = np.random.default_rng(1)
    big, sq = rng.uniform(-10, 10, 4_000_000), rng.normal(scale=3, size=(2000, 2000))
    obig, osq = np.empty_like(big), np.empty_like(sq)
    return [(f"{label}: 2 threads vs 1", _threads(2, f), _threads(1, f), 1.7)
            for label, f in (("sigmoid 4e6 out=", lambda: fa.sigmoid(big, out=obig)),
                             ("tanh 4e6 out=", lambda: fa.tanh(big, out=obig)),
                             ("softmax 2000x2000 out=", lambda: fa.softmax(sq, out=osq)),
                             ("softmax 1-D 4e6 out=", lambda: fa.softmax(big, out=obig)))]


def overhead_targets():
    x, _ = _data()
    ten = x[:10].copy()
    huge = np.random.default_rng(2).uniform(-10, 10, 20_000_000)
    ohuge = np.empty_like(huge)
    return [
        ("tanh on 10 elements vs np.tanh", lambda: fa.tanh(ten), lambda: np.tanh(ten), 1.5),
        # The other kinds of call: a two-input ufunc behind a Python wrapper, and the
        # softmax family's Python layer.
        ("leaky_relu on 10 elements vs np.tanh", lambda: fa.leaky_relu(ten),
         lambda: np.tanh(ten), 1.5),
        ("softmax on 10 elements vs np.tanh", lambda: fa.softmax(ten),
         lambda: np.tanh(ten), 1.5),
        ("relu out= on 2e7 vs np.copyto", lambda: fa.relu(huge, out=ohuge),
         lambda: np.copyto(ohuge, huge), 1.3),
        ("leaky_relu out= on 2e7 vs np.copyto", lambda: fa.leaky_relu(huge, _impls.A, out=ohuge),
         lambda: np.copyto(ohuge, huge), 1.3),
    ]


def peer_targets():
    x, rows = _data()
    out = []
    for peer, ops in _impls.peers().items():
        if peer == "scipy":
            continue
        for name in ("sigmoid", "tanh", "relu", "leaky_relu", "softmax", "log_softmax"):
            if name not in ops or (peer == "jax" and "relu" in name):
                continue
            goal = 1 if peer == "jax" or "relu" in name else (3 if name == "tanh" else 1.5)
            arg = rows if "softmax" in name else x
            out.append((f"{name}{' 1000x1000' if arg is rows else ''} vs {peer}",
                        _one_thread(functools.partial(getattr(fa, name), arg)),
                        _one_thread(functools.partial(ops[name], arg)), goal))
    return out


def all_core_targets():
    # The AVX-512 target: every core for both, fresh output, n = 1e6 and 1e7.
    try:
        import torch
    except ImportError:
        return []
    ncpu = os.cpu_count()
    F = torch.nn.functional
    ops = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
           "leaky_relu": lambda t: F.leaky_relu(t, _impls.A)}

    def theirs(op, v):
        def call():
            torch.set_num_threads(ncpu)
            return op(torch.from_numpy(v)).numpy()
        return call

    out = []
    for n in (1_000_000, 10_000_000):
        v = np.random.default_rng(3).uniform(-10, 10, n)
        for name, op in ops.items():
            out.append((f"{name} {n:.0e} vs torch, {ncpu} threads each",
                        _threads(ncpu, functools.partial(getattr(fa, name), v)),
                        theirs(op, v), 1))
    return out


# (group, builder, ratio kind): 'speedup' = their time / ours >= goal; 'cost' = ours /
# theirs <= goal.
GROUPS = [("NumPy", numpy_targets, "speedup"), ("short rows", short_row_targets, "speedup"),
          ("threads", thread_targets, "speedup"),
          ("overhead", overhead_targets, "cost"), ("peers", peer_targets, "speedup"),
          ("all cores", all_core_targets, "speedup")]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--avx2", action="store_true", help="hold NumPy and fastact to AVX2")
    p.add_argument("--keep-memory", action="store_true",
                   help="keep glibc from unmapping freed blocks (no page faults)")
    p.add_argument("--rounds", type=_positive, default=5, help="rounds to take the median of")
    p.add_argument("--groups", default=",".join(g for g, _, _ in GROUPS),
                   help="comma-separated groups to run (default: all)")
    args = p.parse_args(argv)
    unknown = set(args.groups.split(",")) - {g for g, _, _ in GROUPS}
    if unknown:
        p.error(f"unknown group(s): {', '.join(sorted(unknown))}; choose from "
                + ", ".join(g for g, _, _ in GROUPS))
    env = dict(os.environ)
    if args.avx2:
        env.update(FASTACT_ISA="avx2", NPY_ENABLE_CPU_FEATURES=NUMPY_AVX2)
    if args.keep_memory and KEEP_MEMORY not in env.get("GLIBC_TUNABLES", ""):
        # read by glibc at start: a new process; other tunables set are kept
        env["GLIBC_TUNABLES"] = ":".join(filter(None, [env.get("GLIBC_TUNABLES"), KEEP_MEMORY]))
    if env != dict(os.environ):
        argv = sys.argv[1:] if argv is None else argv
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *argv], env)

    todo = []
    for group, build, kind in GROUPS:
        if group not in args.groups.split(","):
            continue
        if group in ("peers", "all cores") and os.environ.get("FASTACT_ISA") == "avx2":
            continue        # PyTorch and JAX would still run their AVX-512 code here
        todo += [(group, kind, *target) for target in build()]
    # Round by round over every target, so that a noisy minute on the shared machine
    # touches one round of many targets rather than every round of a few.
    ratios = [[] for _ in todo]
    times = [[] for _ in todo]
    for _ in range(args.rounds):
        for k, (group, kind, label, ours, theirs, goal) in enumerate(todo):
            fa.set_num_threads(1)
            _torch_threads(1)
            a, b = _bench.time_interleaved([ours, theirs], (), repeats=3)
            ratios[k].append(b / a if kind == "speedup" else a / b)
            times[k].append((a, b))
    fa.set_num_threads(1)
    _torch_threads(1)

    info = _bench.machine()
    print(f"{info['cpu']}, fastact {info['variant']}, numpy {info['numpy']}"
          + "".join(f", {k} {info[k]}" for k in ("torch", "jax") if k in info)
          + (", glibc keeping freed memory" if KEEP_MEMORY in os.environ.get("GLIBC_TUNABLES", "")
             else "")
          + f"; medians of {args.rounds} rounds\n")
    print("| group | target | fastact | baseline | ratio (range) | goal | met |")
    print("|---|---|---|---|---|---|---|")
    for k, (group, kind, label, _, _, goal) in enumerate(todo):
        r = statistics.median(ratios[k])
        ok = r >= goal if kind == "speedup" else r <= goal
        t_ours = statistics.median(t[0] for t in times[k])
        t_theirs = statistics.median(t[1] for t in times[k])
        print(f"| {group} | {label} | {_fmt_time(t_ours)} | {_fmt_time(t_theirs)} "
              f"| {r:.2f}× ({min(ratios[k]):.2f}–{max(ratios[k]):.2f}) "
              f"| {'≥' if kind == 'speedup' else '≤'} {goal}× | {'yes' if ok else 'no'} |")


def _fmt_time(seconds):
    return f"{seconds * 1e9:.0f} ns" if seconds < 1e-5 else f"{seconds * 1e3:.2f} ms"


if __name__ == "__main__":
    main()
