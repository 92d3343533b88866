"""Build a small extension module in place for a test, and import it."""

import importlib.util
import pathlib
import subprocess
import sys


def build_extension(directory, name, args=(), env=None):
    """Build the extension module `name` in `directory` (which holds its source and a
    setup.py) in place, and import it from there."""
    proc = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", *args],
                          cwd=directory, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    so = next(pathlib.Path(directory).glob(f"{name}*.so"), None) or next(
        pathlib.Path(directory).glob(f"{name}*.pyd"))
    spec = importlib.util.spec_from_file_location(name, so)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
