"""`python -m fastact plot`: the article's figures, drawn with fastact.

Each activation and its derivative on x in [-6, 6] in the article's style (a red curve,
axes through the origin, a dash-dot grid, no frame), the softmax of a sample vector with
its Jacobian as a heatmap, and, with --bench, a speedup bar chart from a bench run.
matplotlib is an optional extra: ``pip install "fastact[plot]"``.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

import fastact as fa

# (file stem, title, function, y limits): the article's limits where it gives them.
CURVES = [
    ("sigmoid", "sigmoid(x)", fa.sigmoid, (-0.25, 1.25)),
    ("sigmoid_derivative", "sigmoid'(x)", fa.sigmoid_derivative, (-0.02, 0.35)),
    ("tanh", "tanh(x)", fa.tanh, (-1.4, 1.4)),
    ("tanh_derivative", "tanh'(x)", fa.tanh_derivative, (-0.2, 1.2)),
    ("relu", "relu(x)", fa.relu, (-0.3, 1.5)),
    ("relu_derivative", "relu'(x)", fa.relu_derivative, (-0.5, 1.5)),
    ("leaky_relu", "leaky_relu(x), alpha = 0.01", fa.leaky_relu, (-0.5, 1.5)),
    ("leaky_relu_derivative", "leaky_relu'(x), alpha = 0.01", fa.leaky_relu_derivative,
     (-0.5, 1.5)),
]
SOFTMAX_SAMPLE = np.array([0.4, 2.0, 5.0])    # the article's example


class MissingMatplotlib(RuntimeError):
    pass


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise MissingMatplotlib(
            'plotting needs matplotlib: pip install "fastact[plot]"') from None
    matplotlib.use("Agg")       # files only, no display
    import matplotlib.pyplot as plt
    return plt


def _article_axes(ax):
    ax.axhline(c="k", lw=1)
    ax.axvline(c="k", lw=1)
    ax.grid(alpha=0.4, ls="-.")
    ax.tick_params(labelsize=14)
    for side in ax.spines.values():
        side.set_visible(False)


def curve(plt, path, title, f, ylim):
    x = np.arange(-6, 6, 0.01)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(x, f(x), c="r", lw=3)
    ax.set_ylim(ylim)
    ax.set_title(title, fontsize=14)
    _article_axes(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def softmax_figure(plt, path, x=SOFTMAX_SAMPLE):
    s = fa.softmax(x)
    jac = fa.softmax_jacobian(x)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
    labels = [f"x={v:g}" for v in x]
    left.bar(labels, s, color="r")
    for i, v in enumerate(s):
        left.text(i, v, f"{v:.4f}", ha="center", va="bottom", fontsize=12)
    left.set_ylim(0, 1.1)
    left.set_title(f"softmax([{', '.join(f'{v:g}' for v in x)}])", fontsize=13)
    left.grid(alpha=0.4, ls="-.", axis="y")
    lim = np.abs(jac).max()
    im = right.imshow(jac, cmap="RdBu_r", vmin=-lim, vmax=lim)
    for (i, j), v in np.ndenumerate(jac):
        right.text(j, i, f"{v:.4f}", ha="center", va="center", fontsize=11)
    right.set_xticks(range(len(x)), labels)
    right.set_yticks(range(len(x)), labels)
    right.set_title("Jacobian  J[i, j] = s_i (delta_ij - s_j)", fontsize=13)
    fig.colorbar(im, ax=right, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def speedup_figure(plt, path, data):
    """Speedup of fastact over each NumPy version, at the largest size measured for it
    (np.vectorize baselines stop at 1e5 elements)."""
    best = {}       # (function, implementation) -> (size, speedup)
    for r in data["results"]:
        for impl, v in r["speedup"].items():
            key = (r["function"], impl)
            if r["size"] >= best.get(key, (-1, None))[0]:
                best[key] = (r["size"], v)
    names = list(dict.fromkeys(r["function"] for r in data["results"]))
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(names) + 1.5))
    for k, (impl, color) in enumerate([("numpy_naive", "0.6"), ("numpy_best", "r")]):
        vals = [best.get((n, impl), (0, np.nan))[1] for n in names]
        ax.barh(y + (k - 0.5) * 0.4, vals, height=0.4, color=color,
                label=f"vs {impl.replace('_', ' ')}")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1, c="k", lw=1)
    ax.grid(alpha=0.4, ls="-.", axis="x")
    ax.set_xlabel("speedup (their time / fastact's) at the largest size, log scale")
    m = data["machine"]
    ax.set_title(f"fastact {m['fastact']} ({m['variant']}, {m['threads']} threads) "
                 f"on {m['cpu']}", fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def render(out_dir, bench=None):
    """Write the PNGs to out_dir; `bench` is a bench JSON dict (or None). Returns paths."""
    plt = _pyplot()
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, title, f, ylim in CURVES:
        curve(plt, out / f"{stem}.png", title, f, ylim)
        written.append(out / f"{stem}.png")
    softmax_figure(plt, out / "softmax.png")
    written.append(out / "softmax.png")
    if bench is not None:
        speedup_figure(plt, out / "speedup.png", bench)
        written.append(out / "speedup.png")
    return written


def load_bench(path):
    with open(path) as f:
        return json.load(f)
