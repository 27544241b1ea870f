"""Training throughput: nablab's ``fit`` against PyTorch, JAX and a plain NumPy loop.

    python benchmarks/train_throughput.py [--threads N] [--rounds R] [--quick] [--markdown]
                                          [--max-load L] [--force]

The same ReLU MLP, softmax cross-entropy and Adam (lr 1e-3), float32, the same data and the
same batches (every epoch one permutation from ``default_rng(0)``, the last partial batch
dropped so that every contender does the same work):

- nablab: one epoch of ``nablab.train.fit``'s loop (compiled epoch, the default) and of the
  module-by-module engine (``compiled=False``);
- torch: eager with ``torch.optim.Adam`` (default multi-tensor), eager with the fused Adam, and
  ``torch.compile`` of the model (when a compiler is present);
- JAX (when installed: ``pip install -e '.[benchmarks]'``): ``jit`` of one step called per
  batch, and ``jit`` of ``lax.scan`` over the epoch's batches;
- numpy: a hand-written loop in this file;
- matmuls: only the matrix products of the same steps (NumPy), the floor of a step.

Each library times in a worker process of its own and the rounds alternate (``_workers.py``);
the table gives the median of the rounds with the fastest and slowest, in samples per second,
and the CPU time per sample. The 1-minute load average is read before and after; on a machine
busier than ``--max-load`` the script says so and prints no table (``--force`` prints anyway,
marked).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _workers import compare, machine_load, thread_environment

CONFIGS = {
    "64-64-10, batch 32 (digits)": ([64, 64, 10], 32, "digits"),
    "64-64-10, batch 1 (digits)": ([64, 64, 10], 1, "digits"),
    "784-256-128-10, batch 128": ([784, 256, 128, 10], 128, 8192),
    "784-1024-1024-10, batch 256": ([784, 1024, 1024, 10], 256, 4096),
}
PEERS = ("torch eager", "torch fused Adam", "torch.compile", "JAX jit step", "JAX jit scan")


def _threads() -> int | None:
    value = os.environ.get("BENCH_THREADS")
    return int(value) if value else None


def _data(source, widths):
    import numpy as np

    if source == "digits":
        from nablab import data

        dataset = data.load("digits")
        x = data.Standardizer().fit_transform(dataset.x)
        return x.astype(np.float32), dataset.y
    rng = np.random.default_rng(1)
    x = rng.normal(size=(source, widths[0])).astype(np.float32)
    y = rng.integers(0, widths[-1], size=source)
    return x, y


def _orders(n: int):
    """The batch order of every epoch, as nablab's fit draws it (seed 0)."""
    import numpy as np

    rng = np.random.default_rng(0)
    while True:
        yield rng.permutation(n)


def nablab_epoch(widths, batch, source, compiled=True):
    import numpy as np

    from nablab import nn, optim
    from nablab.train.loop import Trainer

    x, y = _data(source, widths)
    rng = np.random.default_rng(0)
    layers = []
    for a, b in itertools.pairwise(widths):
        layers += [nn.Linear(a, b, init="he_uniform", rng=rng), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    opt = optim.Adam(model.parameters(), lr=1e-3)
    trainer = Trainer(
        model,
        nn.CrossEntropyLoss(),
        opt,
        x,
        y,
        None,
        10**9,
        batch,
        0,
        True,
        True,
        [],
        grad_norm_every=10,
        compiled=compiled,
    )
    return trainer.run_epoch  # one epoch of nablab.train.fit's loop


def nablab_engine_epoch(widths, batch, source):
    return nablab_epoch(widths, batch, source, compiled=False)


def _torch_model(widths, mode):
    import torch

    if _threads():
        torch.set_num_threads(_threads())
    torch.manual_seed(0)
    layers = []
    for a, b in itertools.pairwise(widths):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=(mode == "fused") or None)
    if mode == "compile":
        model = torch.compile(model)
    return model, opt


def torch_epoch(widths, batch, source, mode="eager"):
    import torch

    x_np, y_np = _data(source, widths)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    model, opt = _torch_model(widths, mode)
    loss_fn = torch.nn.CrossEntropyLoss()
    orders = _orders(len(x_np))
    full = len(x_np) - len(x_np) % batch

    def epoch():
        order = torch.from_numpy(next(orders))
        for start in range(0, full, batch):
            index = order[start : start + batch]
            loss = loss_fn(model(x[index]), y[index])
            opt.zero_grad()
            loss.backward()
            opt.step()

    return epoch


def torch_fused_epoch(widths, batch, source):
    return torch_epoch(widths, batch, source, "fused")


def torch_compiled_epoch(widths, batch, source):
    return torch_epoch(widths, batch, source, "compile")


def _jax_parts(widths):
    import jax
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    params = []
    for a, b in itertools.pairwise(widths):
        bound = np.sqrt(6.0 / a)
        params.append(
            (
                jnp.asarray(rng.uniform(-bound, bound, (a, b)).astype(np.float32)),
                jnp.zeros(b, jnp.float32),
            )
        )

    def loss_fn(params, xb, yb):
        h = xb
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            if i < len(params) - 1:
                h = jax.nn.relu(h)
        logp = jax.nn.log_softmax(h)
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    def step(state, batch):
        params, m, v, t = state
        xb, yb = batch
        grads = jax.grad(loss_fn)(params, xb, yb)
        t = t + 1
        b1, b2, lr, eps = 0.9, 0.999, 1e-3, 1e-8
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, grads)
        c1, c2 = 1 - b1**t, 1 - b2**t
        params = jax.tree_util.tree_map(
            lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + eps), params, m, v
        )
        return (params, m, v, t), None

    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return step, (params, zeros, zeros, jnp.float32(0))


def jax_step_epoch(widths, batch, source):
    import jax
    import jax.numpy as jnp

    x_np, y_np = _data(source, widths)
    x, y = jnp.asarray(x_np), jnp.asarray(y_np)
    step, state = _jax_parts(widths)
    jitted = jax.jit(step)
    orders = _orders(len(x_np))
    full = len(x_np) - len(x_np) % batch
    holder = [state]

    def epoch():
        order = next(orders)
        state = holder[0]
        for start in range(0, full, batch):
            index = order[start : start + batch]
            state, _ = jitted(state, (x[index], y[index]))
        jax.block_until_ready(state)
        holder[0] = state

    return epoch


def jax_scan_epoch(widths, batch, source):
    import jax
    import jax.numpy as jnp

    x_np, y_np = _data(source, widths)
    x, y = jnp.asarray(x_np), jnp.asarray(y_np)
    step, state = _jax_parts(widths)
    steps = len(x_np) // batch

    @jax.jit
    def run(state, order):
        index = order[: steps * batch].reshape(steps, batch)
        return jax.lax.scan(step, state, (x[index], y[index]))[0]

    orders = _orders(len(x_np))
    holder = [state]

    def epoch():
        holder[0] = jax.block_until_ready(run(holder[0], jnp.asarray(next(orders))))

    return epoch


def numpy_epoch(widths, batch, source, products_only=False):
    """The loop one would write by hand: explicit forward, backward and Adam per tensor
    (``products_only``: just the matrix products of the same steps)."""
    import numpy as np

    x, y = _data(source, widths)
    rng = np.random.default_rng(0)
    weights, biases = [], []
    for a, b in itertools.pairwise(widths):
        bound = np.sqrt(6.0 / a)
        weights.append(rng.uniform(-bound, bound, size=(a, b)).astype(np.float32))
        biases.append(np.zeros(b, np.float32))
    params = weights + biases
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    beta1, beta2, lr, eps = 0.9, 0.999, 1e-3, 1e-8
    state = {"t": 0}
    orders = _orders(len(x))
    full = len(x) - len(x) % batch
    outs = [np.empty((batch, w.shape[1]), np.float32) for w in weights]
    grads_in = [np.empty((batch, w.shape[0]), np.float32) for w in weights]
    grads_w = [np.empty_like(w) for w in weights]

    def products(xb):
        h = xb
        for w, out in zip(weights, outs, strict=True):
            np.matmul(h, w, out=out)
            h = out
        g = outs[-1]
        for i in reversed(range(len(weights))):
            below = xb if i == 0 else outs[i - 1]
            np.matmul(below.T, g, out=grads_w[i])
            if i:
                np.matmul(g, weights[i].T, out=grads_in[i])
                g = grads_in[i]

    def step(xb, yb):
        hs = [xb]
        for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
            z = hs[-1] @ w
            z += b
            hs.append(np.maximum(z, 0) if i < len(weights) - 1 else z)
        logits = hs[-1]
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        g = e / e.sum(axis=1, keepdims=True)
        g[np.arange(len(yb)), yb] -= 1
        g /= len(yb)
        grads_w, grads_b = [None] * len(weights), [None] * len(weights)
        for i in reversed(range(len(weights))):
            grads_w[i] = hs[i].T @ g
            grads_b[i] = g.sum(axis=0)
            if i:
                g = (g @ weights[i].T) * (hs[i] > 0)
        state["t"] += 1
        t = state["t"]
        c1, c2 = 1 - beta1**t, 1 - beta2**t
        for p, grad, mi, vi in zip(params, grads_w + grads_b, m, v, strict=True):
            mi *= beta1
            mi += (1 - beta1) * grad
            vi *= beta2
            vi += (1 - beta2) * grad * grad
            p -= (lr / c1) * mi / (np.sqrt(vi / c2) + eps)

    def epoch():
        order = next(orders)
        for start in range(0, full, batch):
            index = order[start : start + batch]
            if products_only:
                products(x[index])
            else:
                step(x[index], y[index])

    return epoch


def matmul_epoch(widths, batch, source):
    return numpy_epoch(widths, batch, source, products_only=True)


def _groups(args):
    have_jax = True
    try:
        import importlib.util

        have_jax = importlib.util.find_spec("jax") is not None
    except ImportError:
        have_jax = False
    groups = {
        "nablab": [
            ("nablab fit", nablab_epoch, args),
            ("nablab engine", nablab_engine_epoch, args),
        ],
        "torch": [
            ("torch eager", torch_epoch, args),
            ("torch fused Adam", torch_fused_epoch, args),
            ("torch.compile", torch_compiled_epoch, args),
        ],
        "numpy": [("numpy", numpy_epoch, args), ("matmuls", matmul_epoch, args)],
    }
    if have_jax:
        groups["jax"] = [
            ("JAX jit step", jax_step_epoch, args),
            ("JAX jit scan", jax_scan_epoch, args),
        ]
    return groups


def _samples(widths, batch, source) -> int:
    n = 1797 if source == "digits" else source
    return n - n % batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for every library (default: each library's own)",
    )
    parser.add_argument("--quick", action="store_true", help="only the first network")
    parser.add_argument(
        "--max-load",
        type=float,
        default=0.6 * (os.cpu_count() or 1),
        help="refuse to report above this 1-minute load average",
    )
    parser.add_argument("--force", action="store_true", help="report even on a busy machine")
    parser.add_argument("--markdown", action="store_true", help="a Markdown table")
    args = parser.parse_args()
    before = machine_load()
    if before > args.max_load and not args.force:
        print(
            f"the machine is busy (load average {before:.2f} > {args.max_load:.2f}): "
            "measurements would mostly measure the other work; no table printed "
            "(--force to print anyway)"
        )
        sys.exit(3)
    environment = thread_environment(args.threads)
    threads = args.threads or "default"
    print(
        f"training throughput, float32 MLP + Adam, threads: {threads}; median of "
        f"{args.rounds} alternating rounds [fastest – slowest], samples/s; load average "
        f"before {before:.2f}"
    )
    rows = []
    for name, (widths, batch, source) in CONFIGS.items():
        timings, failed = compare(
            _groups((widths, batch, source)), repeats=1, rounds=args.rounds, environment=environment
        )
        samples = _samples(widths, batch, source)
        rows.append((name, samples, timings, failed))
        _print_block(name, samples, timings, failed)
        if args.quick:
            break
    after = machine_load()
    print(
        f"load average after {after:.2f}"
        + (" (busy: --force was given)" if max(before, after) > args.max_load else "")
    )
    if args.markdown:
        _print_markdown(rows)


def _print_block(name, samples, timings, failed) -> None:
    print(f"\n{name}")
    for contender, timing in timings.items():
        rate = samples / timing.median
        print(
            f"  {contender:<18} {rate:>12,.0f}  [{samples / timing.high:>11,.0f} – "
            f"{samples / timing.low:>11,.0f}]   cpu {timing.cpu_median / samples * 1e6:7.2f}"
            " µs/sample"
        )
    for contender, why in failed.items():
        print(f"  {contender:<18} not run here: {why}")
    ours = timings["nablab fit"].median
    peers = {p: timings[p].median for p in PEERS if p in timings}
    if peers:
        best = min(peers, key=peers.get)
        print(
            f"  nablab fit / best peer ({best}): {peers[best] / ours:.2f}×; / torch eager: "
            f"{timings['torch eager'].median / ours:.2f}×; matmuls alone take "
            f"{timings['matmuls'].median / ours:.0%} of the nablab step"
        )


def _print_markdown(rows) -> None:
    columns = ["nablab fit", "nablab engine", *PEERS, "numpy"]
    print("\n| network | " + " | ".join(columns) + " | nablab / best peer |")
    print("|---" * (len(columns) + 2) + "|")
    for name, samples, timings, _ in rows:
        cells = [f"{samples / timings[c].median:,.0f}" if c in timings else "—" for c in columns]
        peers = [timings[p].median for p in PEERS if p in timings]
        ratio = min(peers) / timings["nablab fit"].median if peers else float("nan")
        print(f"| {name} | " + " | ".join(cells) + f" | {ratio:.2f}× |")


if __name__ == "__main__":
    main()
