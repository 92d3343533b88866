"""The main job's command line: `python -m fastact bench`."""

import subprocess
import sys

import numpy as np

from fastact import _bench
from fastact.__main__ import main


def test_bench_runs_and_reports(capsys):
    assert main(["bench", "--functions", "sigmoid,softmax,relu_backward",
                 "--sizes", "1000", "--repeats", "1"]) == 0
    text = capsys.readouterr().out
    for name in ("sigmoid", "softmax", "relu_backward", "1/(1+np.exp(-x))", "speedup"):
        assert name in text


def test_bench_rejects_unknown_function():
    proc = subprocess.run([sys.executable, "-m", "fastact", "bench", "--functions", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown function(s): nope" in proc.stderr


def test_bench_ulp_measure():
    hi = np.array([1.0, 0.0, 2.0])
    lo = np.array([0.0, 0.0, 2.0 ** -60])
    assert _bench.max_ulp(hi, hi, lo) < 0.01
    assert _bench.max_ulp(np.nextafter(hi, 3), hi, np.zeros(3)) >= 1
    assert _bench.max_ulp([np.nan, 0, 2], hi, lo) == np.inf
    # the bench's own accuracy numbers for fastact stay within the documented bounds
    rng = np.random.default_rng(1)
    for name, bound in [("sigmoid", 2), ("tanh", 2), ("sigmoid_derivative", 4),
                        ("softmax", 4), ("log_softmax", 4)]:
        sample = _bench.accuracy_inputs(name, rng)
        hi, lo = _bench.exact(name, sample)
        assert _bench.max_ulp(getattr(_bench.fa, name)(*sample), hi, lo) <= bound


def test_bench_peers_runs_with_whatever_is_installed(capsys):
    from fastact import _peers

    before = _bench.fa.get_num_threads()
    try:
        rows = _peers.run(["sigmoid", "softmax"], size=2000, repeats=1)
    finally:
        _bench.fa.set_num_threads(before)
    assert [r["function"] for r in rows] == ["sigmoid", "softmax"]
    assert all(r["ns"]["fastact"] > 0 and r["ns"]["numpy"] > 0 for r in rows)
    assert all(r["ulp"]["fastact"] <= 4 for r in rows)
    assert "torch" in capsys.readouterr().out
