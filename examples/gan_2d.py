"""A small GAN learning a 2-D toy distribution: a ring of eight Gaussians.

A generator MLP maps noise z (fed from NumPy) to points; a discriminator MLP scores points
as real or generated. They are trained in alternation, each with its own Adam optimizer and
its own compiled step: the discriminator step lowers binary cross-entropy on real (label 1)
and generated (label 0) points and updates only the discriminator; the generator step
raises the discriminator's belief that generated points are real (the non-saturating loss)
and updates only the generator. Progress is measured by the energy distance between
generated and real samples (0 when the distributions match) and by how many of the eight
modes the generated points cover.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import graphc as gc

OUT = Path(__file__).resolve().parent / "out" / "gan_2d.png"
MODES, RADIUS, SPREAD = 8, 2.0, 0.1
NOISE, HIDDEN, BATCH = 8, 40, 64
LR, BETAS = 1e-3, (0.5, 0.999)
CENTERS = RADIUS * np.stack([np.cos(2 * np.pi * np.arange(MODES) / MODES),
                             np.sin(2 * np.pi * np.arange(MODES) / MODES)], axis=1)


def sample_real(n: int, rng: np.random.Generator) -> np.ndarray:
    """n points from the ring: a random mode plus Gaussian noise."""
    return (CENTERS[rng.integers(0, MODES, n)]
            + rng.normal(0, SPREAD, (n, 2))).astype(np.float32)


def energy_distance(a: np.ndarray, b: np.ndarray) -> float:
    """2 E|a - b| - E|a - a'| - E|b - b'|: zero only when the distributions agree."""
    def mean_dist(p, q):
        return float(np.sqrt(((p[:, None] - q[None]) ** 2).sum(-1)).mean())
    return 2 * mean_dist(a, b) - mean_dist(a, a) - mean_dist(b, b)


def modes_covered(points: np.ndarray) -> int:
    """How many modes have at least 2% of the points within 3 standard deviations."""
    near = np.linalg.norm(points[:, None] - CENTERS[None], axis=-1) < 3 * SPREAD
    return int(np.sum(near.mean(axis=0) >= 0.02))


def mlp(sizes: list[int], seed: int, name: str) -> gc.nn.Sequential:
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        if i:
            layers.append(lambda h: gc.leaky_relu(h, 0.2))
        layers.append(gc.nn.Dense(a, b, seed=seed + i, name=f"{name}{i}"))
    return gc.nn.Sequential(*layers, name=name)


def build(seed: int):
    """The two compiled steps and a sampler: (d_step, g_step, generate)."""
    generator = mlp([NOISE, HIDDEN, HIDDEN, 2], seed, "gen")
    discriminator = mlp([2, HIDDEN, HIDDEN, 1], seed + 10, "disc")
    real = gc.placeholder((None, 2), "float32", name="real")
    z = gc.placeholder((None, NOISE), "float32", name="z")
    fake = generator(z)
    real_logits, fake_logits = discriminator(real), discriminator(fake)
    bce = gc.losses.binary_cross_entropy
    d_loss = gc.mean(bce(real_logits, 1.0)) + gc.mean(bce(fake_logits, 0.0))
    g_loss = gc.mean(bce(fake_logits, 1.0))
    d_updates = gc.optim.Adam(LR, betas=BETAS).updates(d_loss, discriminator)
    g_updates = gc.optim.Adam(LR, betas=BETAS).updates(g_loss, generator)
    d_step = gc.compile([real, z], d_loss, updates=d_updates)
    g_step = gc.compile([z], g_loss, updates=g_updates)
    return d_step, g_step, gc.compile([z], fake)


def plot(real: np.ndarray, fake: np.ndarray, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.scatter(*real.T, s=3, alpha=0.4, label="real")
    ax.scatter(*fake.T, s=3, alpha=0.4, label="generated")
    ax.set(aspect="equal", title="GAN on a ring of 8 Gaussians")
    ax.legend(loc="upper right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def main(epochs: int = 3000, seed: int = 0, report_every: int = 500,
         out: str | Path | None = OUT) -> dict:
    """Train for `epochs` alternating steps (each a fresh batch); print and return progress."""
    rng = np.random.default_rng(seed)
    d_step, g_step, generate = build(seed)
    eval_real = sample_real(1000, rng)
    eval_z = rng.standard_normal((1000, NOISE)).astype(np.float32)

    def measure(step: int) -> dict:
        fake = generate(eval_z)
        return {"step": step, "energy_distance": energy_distance(fake, eval_real),
                "modes": modes_covered(fake)}

    def noise() -> np.ndarray:
        return rng.standard_normal((BATCH, NOISE)).astype(np.float32)

    print(f"GAN on a ring of {MODES} Gaussians: generator and discriminator MLPs "
          f"({HIDDEN} hidden), Adam lr {LR}, batch {BATCH}\n")
    print(f"  {'step':>5}  {'D loss':>7}  {'G loss':>7}  {'energy distance':>15}  modes")
    progress, d_loss, g_loss = [measure(0)], float("nan"), float("nan")
    print(f"  {0:5d}  {'':7}  {'':7}  {progress[0]['energy_distance']:15.4f}  "
          f"{progress[0]['modes']}/{MODES}")
    for step in range(1, epochs + 1):
        d_loss = float(d_step(sample_real(BATCH, rng), noise()))
        g_loss = float(g_step(noise()))
        if step % report_every == 0 or step == epochs:
            progress.append(measure(step))
            p = progress[-1]
            print(f"  {step:5d}  {d_loss:7.3f}  {g_loss:7.3f}  {p['energy_distance']:15.4f}  "
                  f"{p['modes']}/{MODES}")
    result = {"progress": progress, "final_energy_distance": progress[-1]["energy_distance"],
              "initial_energy_distance": progress[0]["energy_distance"],
              "modes": progress[-1]["modes"]}
    if out is not None:
        result["plot"] = str(plot(eval_real, generate(eval_z), Path(out)))
        print(f"\nreal and generated samples plotted in {result['plot']}")
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--report-every", type=int, default=500)
    ap.add_argument("--out", default=str(OUT))
    main(**vars(ap.parse_args()))
