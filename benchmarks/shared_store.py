"""Optimizers sharing one parameter store: a step costs the same with one optimizer or two.

    python benchmarks/shared_store.py [--rounds R]

40 parameter tensors (20 linear layers of 1000 weights and their biases), float32. "one" times
``opt.step()`` of a single Adam; "two" times alternating steps of two Adams over the same
parameters (both read and write the model's store; neither copies or
rebinds anything), per step. The ratio two/one is the price of sharing: 1.0 means none.
Best of R rounds.
"""

from __future__ import annotations

import argparse
import time


def _setup():
    import numpy as np

    from nablab import nn, optim

    rng = np.random.default_rng(0)
    layers = [nn.Linear(40, 25, rng=rng) for _ in range(20)]  # 1000 weights + 25 biases each
    model = nn.Sequential(*layers)
    for param in model.parameters():
        param.grad[...] = rng.normal(size=param.shape)
    return (
        model,
        optim.Adam(model.parameters(), lr=1e-3),
        optim.SGD(model.parameters(), lr=1e-3, momentum=0.9),
    )


def _time(step, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=2000)
    args = parser.parse_args()
    model, adam, other = _setup()
    assert len(model.parameters()) == 40

    def one():
        adam.step()

    def two():
        adam.step()
        other.step()

    one(), two()  # compile the kernels
    best_one = min(_time(one, args.repeats) for _ in range(args.rounds))
    best_two = min(_time(two, args.repeats) for _ in range(args.rounds)) / 2
    print(
        "40 parameter tensors, float32; µs per optimizer step (best of "
        f"{args.rounds} rounds of {args.repeats})"
    )
    print(f"one optimizer          {best_one * 1e6:8.1f}")
    print(f"two sharing the store  {best_two * 1e6:8.1f}   (two / one = {best_two / best_one:.2f})")


if __name__ == "__main__":
    main()
