"""What pruning costs and what compacting buys, measured side by side in one run.

    python benchmarks/prune.py [--rounds R] [--full-hessian]

1. The OBD diagonal of the 64-64-10 digits MLP (float64, the 1,438 training rows), in
   units of one forward-backward pass over the same rows: LeCun's recursion (what OBD uses),
   the exact Gauss–Newton and Hessian diagonals (full per-sample blocks), and the diagonal
   from a full finite-difference Hessian (2n gradient evaluations, n = 4,810; 100 columns
   timed and scaled up unless ``--full-hessian``).
2. Optimal Brain Surgeon on a 64-28-10 digits MLP (2,110 parameters): the dense
   Gauss–Newton matrix it uses (n products, each three forward passes and a backward one),
   its inverse, one removal (saliencies, update, rank-one downdate of H⁻¹) and pruning half
   the weights one at a time.
3. ``compact``: a 784-1024-1024-10 float32 MLP with 75% of its hidden units pruned
   (structured), forward and forward-backward on a batch of 256, masked against compacted.
4. The whole ``nablab prune`` command on a trained digits run (64-64-10; OBD, 50%, 5
   retraining epochs), wall time including Python's start-up, and OBS on a 64-16-10 run.

Best of R rounds for the short timings; the machine is shared, so ratios matter more than
seconds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _best(step, rounds: int, repeats: int = 1) -> float:
    """Best mean seconds per call over ``rounds`` rounds of ``repeats`` calls, after one
    warm-up call."""
    step()
    best = np.inf
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def _digits(dtype=np.float64):
    from nablab import data

    digits = data.load("digits", dtype=dtype)
    x, y, _, _ = data.train_val_split(digits.x, digits.y, 0.2, 0)
    return data.Standardizer().fit(x).transform(x), y


def _mlp(hidden: int):
    from nablab import nn

    rng = np.random.default_rng(0)
    return nn.Sequential(
        nn.Linear(64, hidden, init="he_normal", rng=rng, dtype=np.float64),
        nn.ReLU(),
        nn.Linear(hidden, 10, rng=rng, dtype=np.float64),
    )


def _trained(hidden: int, x, y, epochs: int = 30):
    from nablab import nn, optim
    from nablab.train.loop import fit

    model = _mlp(hidden)
    fit(
        model,
        nn.CrossEntropyLoss(),
        optim.Adam(model.parameters(), lr=3e-3),
        (x, y),
        epochs=epochs,
        batch_size=64,
    )
    return model


def obd_costs(rounds: int, full_hessian: bool) -> None:
    from nablab import nn
    from nablab.analysis import hessian_diagonal, hessian_vector_product

    x, y = _digits()
    model = _trained(64, x, y)
    loss = nn.CrossEntropyLoss()
    n = sum(p.size for p in model.parameters())

    def forward_backward():
        model.zero_grad()
        loss(model(x), y)
        model.backward_params(loss.backward())

    unit = _best(forward_backward, rounds, 20)
    print(f"\n1. OBD diagonal, 64-64-10 MLP ({n} parameters), {len(x)} rows, float64")
    print(f"   one forward-backward pass: {unit * 1e3:.2f} ms")
    print(f"   {'diagonal':<34} {'ms':>10} {'fwd-bwd passes':>15}")
    for method in ("lecun", "gauss_newton", "exact"):
        seconds = _best(lambda m=method: hessian_diagonal(model, loss, x, y, m), rounds)
        print(f"   {method:<34} {seconds * 1e3:>10.2f} {seconds / unit:>15.1f}")
    columns = n if full_hessian else min(n, 100)
    unit_vectors = np.eye(n)[:columns]

    def some_columns():
        for v in unit_vectors:
            hessian_vector_product(model, loss, x, y, v, order=2)

    seconds = _best(some_columns, 1 if full_hessian else rounds) * n / columns
    label = f"finite-difference Hessian ({2 * n} grads)"
    print(f"   {label:<34} {seconds * 1e3:>10.0f} {seconds / unit:>15.0f}")
    if columns < n:
        print(f"   (the last row: {columns} columns timed, best of {rounds}, times {n}/{columns})")


def obs_costs(rounds: int) -> None:
    from nablab import nn
    from nablab.analysis import dense_hessian, gauss_newton_vector_product
    from nablab.prune import Context, prune
    from nablab.prune.obs import Surgeon

    x, y = _digits()
    model = _trained(28, x, y)
    loss = nn.CrossEntropyLoss()
    n = sum(p.size for p in model.parameters())
    weights = sum(p.size for p in model.parameters() if p.ndim == 2)
    unit_vectors = np.eye(n)[:100]

    def some_columns():
        for v in unit_vectors:
            gauss_newton_vector_product(model, loss, x, y, v)

    build = _best(some_columns, rounds) * n / len(unit_vectors)
    hessian = dense_hessian(model, loss, x, y, max_params=n, kind="gauss_newton")
    invert = _best(lambda: np.linalg.inv(hessian + 1e-4 * np.eye(n)), rounds)
    surgeon = Surgeon(Context(model, loss, x, y, max_params=n))
    candidates = np.arange(64 * 28)

    def one_removal():
        values = surgeon.saliencies(candidates[surgeon.alive(candidates)])
        alive = candidates[surgeon.alive(candidates)]
        surgeon.remove(alive[int(np.argmin(values))][None])

    step = _best(one_removal, rounds, 20)
    fresh = _mlp(28)
    fresh.load_state_dict(model.state_dict())
    start = time.perf_counter()
    prune(fresh, 0.5, "obs", data=(x, y), loss=loss, max_params=n)
    whole = time.perf_counter() - start
    print(f"\n2. Optimal Brain Surgeon, 64-28-10 MLP ({n} parameters, {weights} weights)")
    print(f"   dense Gauss–Newton matrix ({n} products):  {build:.2f} s (100 timed, scaled)")
    print(f"   inverse ({n}×{n}):                        {invert * 1e3:.0f} ms")
    print(f"   one removal (saliencies, update, downdate):    {step * 1e3:.2f} ms")
    print(f"   prune 50% of the weights, one at a time:       {whole:.2f} s (Hessian included)")


def compact_speedup(rounds: int) -> None:
    from nablab import nn
    from nablab.prune import prune
    from nablab.prune.compaction import compact

    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Linear(784, 1024, init="he_normal", rng=rng),
        nn.ReLU(),
        nn.Linear(1024, 1024, init="he_normal", rng=rng),
        nn.ReLU(),
        nn.Linear(1024, 10, rng=rng),
    )
    prune(model, 0.75, "magnitude", structured=True, scope="layer")
    small = compact(model)
    x = rng.normal(size=(256, 784)).astype(np.float32)
    g = rng.normal(size=(256, 10)).astype(np.float32)
    np.testing.assert_allclose(small(x), model(x), rtol=1e-4, atol=1e-4)

    def step(net, backward):
        def run():
            net(x)
            if backward:
                net.backward_params(g)

        return run

    before = sum(p.size for p in model.parameters())
    after = sum(p.size for p in small.parameters())
    print("\n3. compact: 784-1024-1024-10 float32, 75% of hidden units pruned, batch 256")
    print(f"   parameters {before:,} → {after:,} ({before / after:.1f}× fewer)")
    print(f"   {'':<18} {'masked ms':>10} {'compact ms':>11} {'speed-up':>9}")
    for label, backward in (("forward", False), ("forward-backward", True)):
        times = {"masked": np.inf, "compact": np.inf}
        for _ in range(rounds):  # alternate, so both see the same machine noise
            times["masked"] = min(times["masked"], _best(step(model, backward), 1, 10))
            times["compact"] = min(times["compact"], _best(step(small, backward), 1, 10))
        ratio = times["masked"] / times["compact"]
        print(
            f"   {label:<18} {times['masked'] * 1e3:>10.2f} {times['compact'] * 1e3:>11.2f} "
            f"{ratio:>8.1f}×"
        )


def command(folder: Path) -> None:
    def run(*args: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nablab", *args], check=True, capture_output=True)
        return time.perf_counter() - start

    run(
        "train",
        "--data",
        "digits",
        "--hidden",
        "64,64",
        "--epochs",
        "20",
        "--quiet",
        "--out",
        str(folder / "d64"),
    )
    run(
        "train",
        "--data",
        "digits",
        "--hidden",
        "16",
        "--epochs",
        "20",
        "--quiet",
        "--out",
        str(folder / "d16"),
    )
    print("\n4. nablab prune on a trained digits run (wall time, start-up included)")
    cases = [
        (
            "64-64-10, obd 50%, 5 retraining epochs",
            "d64",
            ["--method", "obd", "--retrain-epochs", "5"],
        ),
        ("64-64-10, magnitude 50%, no retraining", "d64", ["--method", "magnitude"]),
        ("64-16-10, obs 50%, no retraining", "d16", ["--method", "obs"]),
        ("64-16-10, obs 50% structured", "d16", ["--method", "obs", "--structured"]),
    ]
    for label, run_dir, extra in cases:
        seconds = run(
            "prune", str(folder / run_dir), "--amount", "0.5", *extra, "--out", str(folder / "out")
        )
        print(f"   {label:<42} {seconds:6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--full-hessian",
        action="store_true",
        help="time every column of the finite-difference Hessian (default: 100, scaled up)",
    )
    args = parser.parse_args()
    obd_costs(args.rounds, args.full_hessian)
    obs_costs(args.rounds)
    compact_speedup(args.rounds)
    with tempfile.TemporaryDirectory() as folder:
        command(Path(folder))


if __name__ == "__main__":
    main()
