"""Convolutional training throughput: nablab's ``fit`` against PyTorch eager and a plain NumPy
im2col loop.

    python benchmarks/conv_throughput.py [--threads N] [--rounds R] [--quick] [--max-load L]
                                         [--force]

Two networks, float32, softmax cross-entropy and Adam (lr 1e-3), the same random data and the
same batch order (one permutation per epoch from ``default_rng(0)``) for all three:

- the MNIST-1D CNN: (N, 40) signals → Unflatten → 3 × (Conv1d k5 s2 p2, 64 channels → ReLU)
  → Flatten → Linear(320, 10); batch 64, 4000 samples (``nablab train --model cnn`` without
  batch norm);
- a LeNet-style CNN on 28×28 images: Conv2d(1, 6, 5, p2) → ReLU → MaxPool 2 →
  Conv2d(6, 16, 5) → ReLU → MaxPool 2 → Flatten → 400-120-84-10 with ReLUs; batch 64,
  4096 samples.

The contenders:

- nablab: ``nablab.train.fit``'s epoch (no progress bar, no diagnostics; a convolutional
  network always runs module by module);
- torch: ``torch.nn`` modules and ``torch.optim.Adam``, eager, on the CPU with its default
  threads;
- numpy: a hand-written loop in this file: im2col by a loop over kernel positions into a
  (N, C, k…, O…) array, transposed into rows; col2im the same loop backwards; max pooling by
  reshaping 2×2 blocks; Adam per tensor.

Each library times in a worker process of its own and the rounds alternate (``_workers.py``);
the report gives the median of the rounds with the fastest and slowest, in samples per second,
and refuses to report on a machine busier than ``--max-load`` unless ``--force`` is given.
Peak memory is what ``tracemalloc`` sees while building the model and training one epoch
(NumPy reports its allocations to it; PyTorch's are not visible). Last, the share of nablab's
step spent in each layer's forward and backward (timed in this process).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _workers import compare, machine_load, thread_environment

CONFIGS = {
    "MNIST-1D CNN, batch 64": ("mnist1d", 64, 4000),
    "LeNet-style 28×28, batch 64": ("lenet", 64, 4096),
}


def _data(kind: str, n: int):
    import numpy as np

    rng = np.random.default_rng(1)
    shape = (n, 40) if kind == "mnist1d" else (n, 1, 28, 28)
    return rng.normal(size=shape).astype(np.float32), rng.integers(0, 10, size=n)


def _orders(n: int):
    """The batch order of every epoch, as nablab's fit draws it (seed 0)."""
    import numpy as np

    rng = np.random.default_rng(0)
    while True:
        yield rng.permutation(n)


# ----------------------------------------------------------------------------------- nablab
def nablab_model(kind: str):
    import numpy as np

    from nablab import nn

    rng = np.random.default_rng(0)
    if kind == "mnist1d":
        layers = [nn.Unflatten(1, (1, 40))]
        channels = 1
        for _ in range(3):
            layers += [
                nn.Conv1d(channels, 64, 5, stride=2, padding=2, init="he_uniform", rng=rng),
                nn.ReLU(),
            ]
            channels = 64
        layers += [nn.Flatten(), nn.Linear(320, 10, rng=rng)]
        return nn.Sequential(*layers)
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2, init="he_uniform", rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, init="he_uniform", rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120, init="he_uniform", rng=rng),
        nn.ReLU(),
        nn.Linear(120, 84, init="he_uniform", rng=rng),
        nn.ReLU(),
        nn.Linear(84, 10, rng=rng),
    )


def nablab_epoch(kind, batch, n):
    from nablab import nn, optim
    from nablab.train.loop import Trainer

    x, y = _data(kind, n)
    model = nablab_model(kind)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    trainer = Trainer(
        model, nn.CrossEntropyLoss(), opt, x, y, None, 10**9, batch, 0, True, False, [], 10
    )
    return trainer.run_epoch  # one epoch of nablab.train.fit's loop


# ----------------------------------------------------------------------------------- torch
def torch_epoch(kind, batch, n):
    import torch

    x_np, y_np = _data(kind, n)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    torch.manual_seed(0)
    nn = torch.nn
    if kind == "mnist1d":
        model = nn.Sequential(
            nn.Unflatten(1, (1, 40)),
            nn.Conv1d(1, 64, 5, stride=2, padding=2),
            nn.ReLU(),
            nn.Conv1d(64, 64, 5, stride=2, padding=2),
            nn.ReLU(),
            nn.Conv1d(64, 64, 5, stride=2, padding=2),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(320, 10),
        )
    else:
        model = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(400, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, 10),
        )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    orders = _orders(n)

    def epoch():
        order = torch.from_numpy(next(orders))
        for start in range(0, len(order), batch):
            index = order[start : start + batch]
            loss = loss_fn(model(x[index]), y[index])
            opt.zero_grad()
            loss.backward()
            opt.step()

    return epoch


# ----------------------------------------------------------------------------------- numpy
def _im2col(xp, k, stride, out):
    """(N, C, *P) padded → rows (N·O…, C·k…): a loop over kernel positions."""
    import numpy as np

    n, c = xp.shape[:2]
    dims = len(k)
    cols = np.empty((n, c, *k, *out), xp.dtype)
    for position in np.ndindex(*k):
        spatial = tuple(
            slice(j, j + stride * o, stride) for j, o in zip(position, out, strict=True)
        )
        cols[(slice(None), slice(None), *position)] = xp[(slice(None), slice(None), *spatial)]
    order = (0, *range(2 + dims, 2 + 2 * dims), 1, *range(2, 2 + dims))
    return cols.transpose(order).reshape(-1, c * int(np.prod(k)))


def _col2im(d_cols, x_shape, k, stride, pad, out):
    import numpy as np

    n, c = x_shape[:2]
    dims = len(k)
    d = d_cols.reshape(n, *out, c, *k)
    order = (0, 1 + dims, *range(2 + dims, 2 + 2 * dims), *range(1, 1 + dims))
    d = d.transpose(order)  # (N, C, k…, O…)
    padded = tuple(s + 2 * pad for s in x_shape[2:])
    dxp = np.zeros((n, c, *padded), d_cols.dtype)
    for position in np.ndindex(*k):
        spatial = tuple(
            slice(j, j + stride * o, stride) for j, o in zip(position, out, strict=True)
        )
        dxp[(slice(None), slice(None), *spatial)] += d[(slice(None), slice(None), *position)]
    if pad:
        dxp = dxp[(slice(None), slice(None), *(slice(pad, -pad),) * dims)]
    return dxp


class _Conv:
    def __init__(self, rng, c_in, c_out, k, stride, pad, dims):
        import numpy as np

        fan_in = c_in * k**dims
        bound = np.sqrt(6.0 / fan_in)
        self.w = rng.uniform(-bound, bound, size=(c_in * k**dims, c_out)).astype(np.float32)
        self.b = np.zeros(c_out, np.float32)
        self.k, self.stride, self.pad, self.dims = (k,) * dims, stride, pad, dims

    def forward(self, x):
        import numpy as np

        pads = ((0, 0), (0, 0), *((self.pad, self.pad),) * self.dims)
        xp = np.pad(x, pads) if self.pad else x
        self.out = tuple(
            (s - k) // self.stride + 1 for s, k in zip(xp.shape[2:], self.k, strict=True)
        )
        self.x_shape = x.shape
        self.cols = _im2col(xp, self.k, self.stride, self.out)
        z = self.cols @ self.w + self.b
        order = (0, self.dims + 1, *range(1, self.dims + 1))
        return z.reshape(x.shape[0], *self.out, -1).transpose(order)

    def backward(self, g, need_input=True):
        order = (0, *range(2, self.dims + 2), 1)
        g = g.transpose(order).reshape(-1, self.w.shape[1])
        self.dw, self.db = self.cols.T @ g, g.sum(axis=0)
        if need_input:
            return _col2im(g @ self.w.T, self.x_shape, self.k, self.stride, self.pad, self.out)
        return None


class _Dense:
    def __init__(self, rng, a, b):
        import numpy as np

        bound = np.sqrt(6.0 / a)
        self.w = rng.uniform(-bound, bound, size=(a, b)).astype(np.float32)
        self.b = np.zeros(b, np.float32)

    def forward(self, x):
        self.x = x
        return x @ self.w + self.b

    def backward(self, g, need_input=True):
        self.dw, self.db = self.x.T @ g, g.sum(axis=0)
        return g @ self.w.T if need_input else None


class _Relu:
    def forward(self, x):
        import numpy as np

        self.y = np.maximum(x, 0)
        return self.y

    def backward(self, g, need_input=True):
        return g * (self.y > 0)


class _Pool2:
    """2×2 max pooling by reshaping into blocks (even sizes)."""

    def forward(self, x):
        n, c, h, w = x.shape
        blocks = x.reshape(n, c, h // 2, 2, w // 2, 2)
        y = blocks.max(axis=(3, 5))
        self.mask = blocks == y[:, :, :, None, :, None]
        self.shape = x.shape
        return y

    def backward(self, g, need_input=True):
        d = self.mask * g[:, :, :, None, :, None]
        return d.reshape(self.shape)


class _Reshape:
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(x.shape[0], *self.shape)

    def backward(self, g, need_input=True):
        return g.reshape(self.x_shape)


def numpy_epoch(kind, batch, n):
    """The loop one would write by hand: im2col convolutions, explicit backward, Adam."""
    import numpy as np

    x, y = _data(kind, n)
    rng = np.random.default_rng(0)
    if kind == "mnist1d":
        layers = [_Reshape((1, 40))]
        for c_in in (1, 64, 64):
            layers += [_Conv(rng, c_in, 64, 5, 2, 2, 1), _Relu()]
        layers += [_Reshape((320,)), _Dense(rng, 320, 10)]
    else:
        layers = [
            _Conv(rng, 1, 6, 5, 1, 2, 2),
            _Relu(),
            _Pool2(),
            _Conv(rng, 6, 16, 5, 1, 0, 2),
            _Relu(),
            _Pool2(),
            _Reshape((400,)),
            _Dense(rng, 400, 120),
            _Relu(),
            _Dense(rng, 120, 84),
            _Relu(),
            _Dense(rng, 84, 10),
        ]
    trainable = [layer for layer in layers if hasattr(layer, "w")]
    params = [p for layer in trainable for p in (layer.w, layer.b)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    beta1, beta2, lr, eps = 0.9, 0.999, 1e-3, 1e-8
    state = {"t": 0}
    orders = _orders(n)

    def step(xb, yb):
        h = xb
        for layer in layers:
            h = layer.forward(h)
        e = np.exp(h - h.max(axis=1, keepdims=True))
        g = e / e.sum(axis=1, keepdims=True)
        g[np.arange(len(yb)), yb] -= 1
        g /= len(yb)
        first = layers.index(trainable[0])
        for index in reversed(range(len(layers))):
            g = layers[index].backward(g, need_input=index > first)
            if index == first:
                break
        grads = [d for layer in trainable for d in (layer.dw, layer.db)]
        state["t"] += 1
        t = state["t"]
        c1, c2 = 1 - beta1**t, 1 - beta2**t
        for p, grad, mi, vi in zip(params, grads, m, v, strict=True):
            mi *= beta1
            mi += (1 - beta1) * grad
            vi *= beta2
            vi += (1 - beta2) * grad * grad
            p -= (lr / c1) * mi / (np.sqrt(vi / c2) + eps)

    def epoch():
        order = next(orders)
        for start in range(0, len(order), batch):
            index = order[start : start + batch]
            step(x[index], y[index])

    return epoch


# ----------------------------------------------------------------------------------- reports
def _peak_memory(factory, args, queue) -> None:
    import tracemalloc

    factory(args[0], 8, 64)()  # imports and JIT compilation happen before tracing
    tracemalloc.start()
    epoch = factory(*args)
    epoch()
    queue.put(tracemalloc.get_traced_memory()[1])


def peak_memory(factory, args) -> int:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_peak_memory, args=(factory, args, queue))
    process.start()
    peak = queue.get()
    process.join()
    return peak


def breakdown(kind: str, batch: int, steps: int = 40) -> str:
    """Each layer's share of nablab's forward + backward time, over ``steps`` batches."""
    import numpy as np

    from nablab import nn

    x, y = _data(kind, batch * steps)
    model = nablab_model(kind)
    loss = nn.CrossEntropyLoss()
    layers = list(model)
    spent = np.zeros((len(layers), 2))
    for _ in range(2):  # the first pass warms up
        spent[:] = 0
        for s in range(steps):
            h, yb = x[s * batch : (s + 1) * batch], y[s * batch : (s + 1) * batch]
            for i, layer in enumerate(layers):
                start = time.perf_counter()
                h = layer.forward(h)
                spent[i, 0] += time.perf_counter() - start
            loss.forward(h, yb)
            g = loss.backward()
            first = next(i for i, layer in enumerate(layers) if layer.parameters())
            for i in reversed(range(first, len(layers))):  # as Sequential.backward_params
                start = time.perf_counter()
                if i == first:
                    layers[i].backward_params(g)
                else:
                    g = layers[i].backward(g)
                spent[i, 1] += time.perf_counter() - start
    total = spent.sum()
    parts = [
        f"{type(layer).__name__} {100 * spent[i].sum() / total:.0f}% "
        f"(fwd {100 * spent[i, 0] / total:.0f}%)"
        for i, layer in enumerate(layers)
        if spent[i].sum() / total >= 0.02
    ]
    return ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for every library (default: each library's own)",
    )
    parser.add_argument("--quick", action="store_true", help="only the MNIST-1D CNN")
    parser.add_argument(
        "--max-load",
        type=float,
        default=0.6 * (os.cpu_count() or 1),
        help="refuse to report above this 1-minute load average",
    )
    parser.add_argument("--force", action="store_true", help="report even on a busy machine")
    args = parser.parse_args()
    before = machine_load()
    if before > args.max_load and not args.force:
        print(
            f"the machine is busy (load average {before:.2f} > {args.max_load:.2f}): "
            "measurements would mostly measure the other work; no table printed "
            "(--force to print anyway)"
        )
        sys.exit(3)
    import numpy as np
    import torch

    environment = thread_environment(args.threads)
    print(
        f"convolutional training throughput, float32 + Adam; torch {torch.__version__}, NumPy "
        f"{np.__version__}, threads: {args.threads or 'default'}; median of {args.rounds} "
        f"alternating rounds [fastest – slowest], samples/s; load average before {before:.2f}"
    )
    if args.threads:  # the per-layer shares are timed in this process
        from nablab import set_num_threads

        set_num_threads(args.threads)
    shares = {}
    for name, (kind, batch, n) in CONFIGS.items():
        if args.quick and kind != "mnist1d":
            continue
        shape = (kind, batch, n)
        timings, failed = compare(
            {
                "nablab": [("nablab fit", nablab_epoch, shape)],
                "torch": [("torch eager", torch_epoch, shape)],
                "numpy": [("numpy im2col", numpy_epoch, shape)],
            },
            repeats=1,
            rounds=args.rounds,
            environment=environment,
        )
        print(f"\n{name}")
        for contender, timing in timings.items():
            print(
                f"  {contender:<14} {n / timing.median:>10,.0f}  [{n / timing.high:>9,.0f} – "
                f"{n / timing.low:>9,.0f}]   cpu {timing.cpu_median / n * 1e6:7.1f} µs/sample"
            )
        for contender, why in failed.items():
            print(f"  {contender:<14} not run here: {why}")
        ours = timings["nablab fit"].median
        memory = peak_memory(nablab_epoch, shape) / peak_memory(numpy_epoch, shape)
        cpu = {name: timing.cpu_median for name, timing in timings.items()}
        print(
            f"  nablab / torch eager: {timings['torch eager'].median / ours:.2f}× "
            f"(CPU time {cpu['torch eager'] / cpu['nablab fit']:.2f}×); / numpy: "
            f"{timings['numpy im2col'].median / ours:.2f}× "
            f"(CPU time {cpu['numpy im2col'] / cpu['nablab fit']:.2f}×); "
            f"peak memory vs numpy: {memory:.2f}×"
        )
        shares[name] = breakdown(kind, batch)
    after = machine_load()
    print(
        f"\nload average after {after:.2f}"
        + (" (busy: --force was given)" if max(before, after) > args.max_load else "")
    )
    print("where nablab's step goes (layers with ≥ 2% of forward + backward):")
    for name, text in shares.items():
        print(f"  {name}: {text}")


if __name__ == "__main__":
    main()
