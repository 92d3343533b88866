"""The main job's command line: `python -m fastact bench`."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from fastact import _bench
from fastact.__main__ import main


def test_bench_runs_and_reports(capsys):
    assert main(["bench", "--functions", "sigmoid,softmax,relu_backward",
                 "--sizes", "1000", "--repeats", "1"]) == 0
    text = capsys.readouterr().out
    for name in ("sigmoid", "softmax", "relu_backward", "1/(1+np.exp(-x))", "x naive",
                 "max ulp", "numpy_best"):
        assert name in text


def test_bench_rejects_unknown_function():
    proc = subprocess.run([sys.executable, "-m", "fastact", "bench", "--functions", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown function(s): nope" in proc.stderr


@pytest.mark.parametrize("args", [["--sizes", "0"], ["--sizes", "1e3,-5"], ["--sizes", "1.5"],
                                  ["--repeats", "0"], ["--repeats", "inf"],
                                  ["--sizes", "1e400"], ["--threads", "0"],
                                  ["--functions", "relu,"]])
def test_bench_rejects_bad_arguments(args, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["bench", *args])
    assert stop.value.code == 2
    assert f"argument {args[0]}" in capsys.readouterr().err


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


def test_bench_quick_keeps_explicit_sizes_and_repeats(capsys):
    assert main(["bench", "--functions", "relu", "--quick", "--sizes", "700",
                 "--repeats", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["size"] for r in data["results"]] == [700]
    assert data["repeats"] == 2


def test_bench_json_and_columns(capsys):
    assert main(["bench", "--functions", "sigmoid,relu_backward", "--sizes", "500,2000",
                 "--repeats", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["machine"]["variant"]
    rows = data["results"]
    assert [(r["function"], r["size"]) for r in rows] == [
        ("sigmoid", 500), ("sigmoid", 2000), ("relu_backward", 500), ("relu_backward", 2000)]
    for r in rows:
        assert {"fastact", "numpy_naive", "numpy_best"} <= set(r["ns_per_element"])
        assert r["max_ulp"]["fastact"] <= 2
        assert set(r["speedup"]) == set(r["ns_per_element"]) - {"fastact"}
    # a peer shows up exactly when it is importable
    for peer in ("scipy", "torch", "jax"):
        present = importlib.util.find_spec(peer) is not None
        assert (peer in rows[0]["ns_per_element"]) == present
