"""The measuring tools in tools/ still run against the installed package (smoke test: one
round of the cheapest group; the figures themselves are not asserted)."""

import pathlib
import subprocess
import sys

TOOLS = pathlib.Path(__file__).resolve().parents[1] / "tools"


def test_speed_targets_prints_its_table(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(TOOLS / "speed_targets.py"), "--rounds", "1",
         "--groups", "overhead,short rows"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("| ")]
    assert lines[0].startswith("| group | target |")
    rows = lines[1:]
    assert len(rows) == 6
    assert {r.split(" | ")[0][2:] for r in rows} == {"overhead", "short rows"}
    assert all(r.rstrip(" |").endswith(("yes", "no")) for r in rows)
