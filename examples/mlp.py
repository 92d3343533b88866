"""A two-layer MLP in plain NumPy with fastact as its activation backend.

The hidden layer is leaky ReLU, applied in place; the output is log_softmax with the
negative log-likelihood loss; backward passes use the saved outputs, as a training loop
does. Run it: ``python examples/mlp.py`` (the tests run it too, on a small problem).
"""

import numpy as np

import fastact as fa


def make_blobs(n=600, classes=3, dim=2, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4, size=(classes, dim))
    labels = rng.integers(classes, size=n)
    return centers[labels] + rng.normal(size=(n, dim)), labels


def train(x, y, hidden=32, epochs=200, lr=0.5, seed=0):
    """Full-batch gradient descent; returns the loss of every epoch."""
    rng = np.random.default_rng(seed)
    n, dim = x.shape
    classes = int(y.max()) + 1
    w1 = rng.normal(scale=1 / np.sqrt(dim), size=(dim, hidden))
    b1 = np.zeros(hidden)
    w2 = rng.normal(scale=1 / np.sqrt(hidden), size=(hidden, classes))
    b2 = np.zeros(classes)
    h = np.empty((n, hidden))                 # preallocated activations, reused
    logp = np.empty((n, classes))
    losses = []
    for _ in range(epochs):
        np.matmul(x, w1, out=h)
        h += b1
        fa.leaky_relu(h, 0.01, out=h)         # forward, in place
        fa.log_softmax(h @ w2 + b2, axis=1, out=logp)
        losses.append(-logp[np.arange(n), y].mean())

        grad_logp = np.zeros_like(logp)       # d loss / d log_softmax output
        grad_logp[np.arange(n), y] = -1 / n
        grad_z2 = fa.log_softmax_backward(grad_logp, logp, axis=1)
        grad_h = grad_z2 @ w2.T
        fa.leaky_relu_backward(grad_h, h, 0.01, out=grad_h)   # from the saved output
        w2 -= lr * (h.T @ grad_z2)
        b2 -= lr * grad_z2.sum(axis=0)
        w1 -= lr * (x.T @ grad_h)
        b1 -= lr * grad_h.sum(axis=0)
    return losses


if __name__ == "__main__":
    x, y = make_blobs()
    losses = train(x, y)
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f} after {len(losses)} epochs")
