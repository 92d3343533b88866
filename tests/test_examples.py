"""The examples run and do what they say (examples double as tests)."""

import importlib.util
import pathlib

import numpy as np

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mlp_learns():
    mlp = _load("mlp")
    x, y = mlp.make_blobs(n=300)
    losses = mlp.train(x, y, epochs=60)
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.5 * losses[0]
    # gradient descent with correct gradients at this step size does not go up much
    assert max(np.diff(losses)) < 0.05
