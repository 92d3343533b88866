"""The asv suite in benchmarks/ is well-formed: `asv check --python=same` against the
installed fastact (it discovers every benchmark and runs none)."""

import pathlib
import subprocess
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


def test_asv_check():
    pytest.importorskip("asv")      # in the test extra
    proc = subprocess.run([sys.executable, "-m", "asv", "check", "--python=same"],
                          cwd=BENCHMARKS, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "No problems found" in out
