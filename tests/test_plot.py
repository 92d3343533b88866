"""`python -m fastact plot`: the figures are written, and a missing matplotlib is a clear
message, not a traceback."""

import json
import pathlib
import sys

import pytest

from fastact import _plot
from fastact.__main__ import main

PNG = b"\x89PNG\r\n\x1a\n"


def test_plot_writes_every_figure(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    bench = {"machine": {"fastact": "0", "variant": "baseline", "threads": 1, "cpu": "cpu"},
             "results": [{"function": "sigmoid", "size": 10,
                          "speedup": {"numpy_naive": 3.0, "numpy_best": 2.0}},
                         {"function": "sigmoid", "size": 1000,
                          "speedup": {"numpy_naive": 9.0, "numpy_best": 4.0}}]}
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(bench))
    assert main(["plot", "--out", str(tmp_path / "img"), "--bench", str(path)]) == 0
    written = capsys.readouterr().out.split()
    stems = [stem for stem, *_ in _plot.CURVES] + ["softmax", "speedup"]
    assert sorted(written) == sorted(str(tmp_path / "img" / f"{s}.png") for s in stems)
    for w in written:
        data = pathlib.Path(w).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000


def test_plot_without_matplotlib(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)    # import now fails
    assert main(["plot", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert 'pip install "fastact[plot]"' in err
    assert "Traceback" not in err
    assert not any(tmp_path.iterdir())
