"""Time per optimizer step: nablab against torch.optim, measured side by side in one run.

    python benchmarks/optimizer_step.py [--rounds R]

Shapes: 100 tensors x 1,000 elements and 10 tensors x 1,000,000 elements, float32.
Optimizers: SGD with momentum 0.9 and Adam. Torch runs its default for-loop implementation
(foreach=False), the multi-tensor one (foreach=True) and the fused kernel (fused=True), with its
default thread count. Each library times in a worker process of its own (see ``_workers.py``);
rounds alternate between them and the median round counts. The ratio column is
torch time / nablab time (above 1: nablab is faster).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _workers import compare

SHAPES = {"100 x 1e3": (100, 1_000), "10 x 1e6": (10, 1_000_000)}


def nablab_step(kind: str, n_tensors: int, size: int):
    import numpy as np

    from nablab import nn, optim

    rng = np.random.default_rng(0)
    params = [nn.Parameter(rng.normal(size=size).astype(np.float32)) for _ in range(n_tensors)]
    for p in params:
        p.grad[...] = rng.normal(size=size)
    opt = optim.SGD(params, lr=1e-3, momentum=0.9) if kind == "sgd" else optim.Adam(params, lr=1e-3)
    return opt.step


def torch_step(kind: str, n_tensors: int, size: int, mode: str):
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    params = [
        torch.tensor(rng.normal(size=size).astype(np.float32), requires_grad=True)
        for _ in range(n_tensors)
    ]
    for p in params:
        p.grad = torch.tensor(rng.normal(size=size).astype(np.float32))
    flags = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
    cls = torch.optim.SGD if kind == "sgd" else torch.optim.Adam
    extra = {"momentum": 0.9} if kind == "sgd" else {}
    opt = cls(params, lr=1e-3, **extra, **flags[mode])

    def step():
        with torch.no_grad():
            opt.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    import numpy as np
    import torch

    print(
        f"optimizer step, float32; torch {torch.__version__} ({torch.get_num_threads()} "
        f"threads), NumPy {np.__version__}; median of {args.rounds} alternating rounds"
    )
    print(f"{'shape':<11} {'optimizer':<9} {'contender':<14} {'µs/step':>10} {'torch/nablab':>13}")
    for shape_name, (n_tensors, size) in SHAPES.items():
        repeats = 200 if size < 10_000 else 10
        for kind in ("sgd", "adam"):
            shape = (kind, n_tensors, size)
            timings, failed = compare(
                {
                    "nablab": [("nablab", nablab_step, shape)],
                    "torch": [
                        (f"torch {mode}", torch_step, (*shape, mode))
                        for mode in ("loop", "foreach", "fused")
                    ],
                },
                repeats,
                args.rounds,
            )
            label = "SGD-mom" if kind == "sgd" else "Adam"
            ours = timings["nablab"].median
            for name, timing in timings.items():
                seconds = timing.median
                ratio = "" if name == "nablab" else f"{seconds / ours:13.2f}"
                print(f"{shape_name:<11} {label:<9} {name:<14} {seconds * 1e6:10.1f} {ratio}")
            for name, why in failed.items():
                print(f"{shape_name:<11} {label:<9} {name:<14} not run: {why}")


if __name__ == "__main__":
    main()
