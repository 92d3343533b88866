"""The measuring tools in tools/ still run against the installed package (smoke test: one
round of the cheapest group; the figures themselves are not asserted)."""

import pathlib
import subprocess
import sys

import pytest

TOOLS = pathlib.Path(__file__).resolve().parents[1] / "tools"


def test_speed_targets_prints_its_table(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(TOOLS / "speed_targets.py"), "--rounds", "1",
         "--groups", "overhead,short rows"],
        check=False, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("| ")]
    assert lines[0].startswith("| group | target |")
    rows = lines[1:]
    assert len(rows) == 8
    assert {r.split(" | ")[0][2:] for r in rows} == {"overhead", "short rows"}
    assert all(r.rstrip(" |").endswith(("yes", "no")) for r in rows)


@pytest.mark.parametrize("tool,args", [("speed_targets.py", ["--groups", "threads,bogus"]),
                                       ("speed_targets.py", ["--rounds", "0"]),
                                       ("readme_tables.py", ["--rounds", "1"]),
                                       ("fit_polynomials.py", ["--degree", "3"])])
def test_tools_reject_what_they_do_not_take(tmp_path, tool, args):
    # a usage error and exit status 2, not a run that ignores the arguments
    proc = subprocess.run([sys.executable, str(TOOLS / tool), *args], check=False,
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, proc.stdout[-500:]
    assert "usage:" in proc.stderr
    assert proc.stdout == ""


def test_ab_kernels_builds_both_sides_and_compares(tmp_path):
    # HEAD against the working tree: both kernel sources compile against the scratch
    # module's entry point, and every requested kernel is timed on both.
    root = TOOLS.parent
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    proc = subprocess.run(
        [sys.executable, str(TOOLS / "ab_kernels.py"), "HEAD", "--isa", "baseline",
         "--functions", "sigmoid,softmax", "--shape", "4x300", "--rounds", "1"],
        check=False, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [ln.rstrip(" |").split(" | ") for ln in proc.stdout.splitlines()
            if ln.startswith("| baseline |")]
    assert [r[1] for r in rows] == ["sigmoid", "softmax"]
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "fastact"],
                           check=True, capture_output=True, text=True).stdout.strip()
    for r in rows:
        assert all(float(v) > 0 for v in r[2:5])
        # one kernel source on both sides (a clean checkout, as in CI): the same bits,
        # or the two sides were mixed up or computed different things
        if not dirty:
            assert r[5] == "yes"
