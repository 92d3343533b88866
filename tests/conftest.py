"""Shared fixtures. The suite tests the installed fastact, never the source tree."""

import pathlib

import pytest

import fastact

_SOURCE = pathlib.Path(__file__).resolve().parents[1] / "fastact"


def pytest_configure(config):
    if pathlib.Path(fastact.__file__).resolve().parent == _SOURCE:
        raise pytest.UsageError(
            f"fastact was imported from the source tree ({_SOURCE}); install it "
            '(pip install ".[test]") and run pytest from an environment where the '
            "installed package comes first"
        )


@pytest.fixture
def threads():
    """Restores fastact's thread setting after a test that changes it."""
    before = fastact.kernels._num_threads_setting()
    yield
    fastact.set_num_threads(before)
