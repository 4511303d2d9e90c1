"""The perceptron learning rule: it converges on linearly separable data and fails on XOR.

Rosenblatt's rule, one example at a time: predict y_hat = step(w . x + b) and, when it is
wrong, move the boundary towards the example: w += lr (y - y_hat) x, b += lr (y - y_hat).
The update is a graph (gc.heaviside and arithmetic, no gradient needed) compiled with
gc.compile. On separable data the number of mistakes is bounded by (R / gamma)^2
(Novikoff): R is the largest input norm, gamma the margin of a separating line. XOR has no
separating line, so the rule never settles.
"""

from __future__ import annotations

import argparse

import numpy as np

import graphc as gc

LR = 1.0
MARGIN = 0.1


def separable_points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Points in [-1, 1]^2 labelled by a random line, at least MARGIN away from it.

    Returns (x, y in {0, 1}, Novikoff's mistake bound (R / gamma)^2 for the augmented x).
    """
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi)
    normal, offset = np.array([np.cos(angle), np.sin(angle)]), rng.uniform(-0.3, 0.3)
    x = rng.uniform(-1, 1, (4 * n, 2))
    distance = x @ normal + offset
    x, distance = x[np.abs(distance) >= MARGIN][:n], distance[np.abs(distance) >= MARGIN][:n]
    augmented = np.hstack([x, np.ones((n, 1))])
    gamma = np.abs(distance).min() / np.linalg.norm([*normal, offset])
    radius = np.linalg.norm(augmented, axis=1).max()
    return x.astype(np.float32), (distance > 0).astype(np.float32), (radius / gamma) ** 2


XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
XOR_Y = np.array([0, 1, 1, 0], np.float32)


def train(x_all: np.ndarray, y_all: np.ndarray, epochs: int, seed: int) -> dict:
    """Run the perceptron rule for up to `epochs` passes; stop after a pass with no mistake."""
    x = gc.placeholder((2,), "float32", name="x")
    y = gc.placeholder((), "float32", name="y")
    w = gc.variable(np.zeros(2, np.float32), name="w")
    b = gc.variable(np.float32(0), name="b")
    error = y - gc.heaviside(gc.sum(w * x) + b)          # 0 when right, +-1 when wrong
    step = gc.compile([x, y], gc.abs(error),
                      updates=[(w, w + LR * error * x), (b, b + LR * error)])
    predict = gc.compile([x], gc.heaviside(gc.sum(w * x) + b))
    rng = np.random.default_rng(seed)
    mistakes, history = 0, []
    for epoch in range(1, epochs + 1):
        errors = sum(float(step(x_all[i], y_all[i])) for i in rng.permutation(len(x_all)))
        mistakes += int(errors)
        accuracy = float(np.mean([predict(p) == t for p, t in zip(x_all, y_all)]))
        history.append(accuracy)
        if errors == 0:
            break
    return {"converged": errors == 0, "epochs": epoch, "mistakes": mistakes,
            "accuracy": history[-1], "best_accuracy": max(history),
            "w": w.value.tolist(), "b": float(b.value)}


def main(epochs: int = 100, seed: int = 0, n: int = 200) -> dict:
    """Train on a separable set and on XOR; print and return what happened."""
    x, y, bound = separable_points(n, seed)
    results = {"separable": train(x, y, epochs, seed), "xor": train(XOR_X, XOR_Y, epochs, seed)}
    results["separable"]["mistake_bound"] = float(bound)
    sep, xor = results["separable"], results["xor"]
    print(f"perceptron rule (lr {LR}), up to {epochs} epochs\n")
    print(f"separable set, {n} points with margin >= {MARGIN}:")
    print(f"  converged after {sep['epochs']} epochs, {sep['mistakes']} mistakes "
          f"(Novikoff bound {bound:.0f}), accuracy {sep['accuracy']:.0%}")
    print(f"  boundary {sep['w'][0]:+.2f} x1 {sep['w'][1]:+.2f} x2 {sep['b']:+.2f} = 0")
    print("XOR, 4 points:")
    print(f"  converged: {xor['converged']} after {xor['epochs']} epochs, accuracy "
          f"{xor['accuracy']:.0%} (best {xor['best_accuracy']:.0%}): no line separates XOR")
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=200)
    main(**vars(ap.parse_args()))
