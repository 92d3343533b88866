"""The source distribution builds on its own: it holds every Cython source of the package
(the kernels' .pxi includes too), which a wheel built from it (pip install of the
tarball, `python -m build`) compiles."""

import pathlib
import subprocess
import sys
import tarfile

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_sdist_holds_every_cython_source(tmp_path):
    # egg_info in tmp_path: a fastact.egg-info left in the tree by an in-place build would
    # add the files its SOURCES.txt lists, whatever MANIFEST.in says
    proc = subprocess.run([sys.executable, "setup.py", "-q", "egg_info", "--egg-base",
                           str(tmp_path), "sdist", "-d", str(tmp_path)],
                          check=False, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    (archive,) = tmp_path.glob("fastact-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = {pathlib.PurePosixPath(n) for n in tar.getnames()}
    shipped = {n.name for n in names if n.parent.name == "fastact"}
    sources = {p.name for p in (ROOT / "fastact").iterdir()
               if p.suffix in (".pyx", ".pxi", ".pxd", ".pyi")}
    assert sources <= shipped, sorted(sources - shipped)
    assert not any(name.endswith(".c") for name in shipped)      # cythonize makes them
    assert "_build_info.py" not in shipped                      # setup.py writes it
    # the tests run from it too: their helpers, and the files they check
    rest = {pathlib.PurePosixPath(*n.parts[1:]) for n in names}
    needed = {p.relative_to(ROOT).as_posix()
              for d in ("tests", "examples", "tools", "benchmarks/benchmarks")
              for p in (ROOT / d).glob("*.py")}
    needed |= {"LICENSE", "benchmarks/asv.conf.json", "docs/performance.md"}
    missing = {n for n in needed if pathlib.PurePosixPath(n) not in rest}
    assert not missing, sorted(missing)
