"""What a sweep costs beyond its trials, and what two cores buy.

    python benchmarks/sweep_overhead.py [--trials N] [--no-ray] [--no-speedup]

1. Overhead per trial. A trivial trial (a one-epoch, one-batch run on the 400-point ``xor``
   set: about a millisecond of work) is swept N and 2N times with ``nablab.sweep.run_sweep``
   on two workers, store and all. Reported per backend:
   - *amortized*: the sweep's wall time over N, start-up included (process pool or Ray
     already running: Ray's own start-up is printed apart);
   - *marginal*: (wall(2N) − wall(N)) / N minus the trial's own time over the two workers,
     the cost of one more trial once everything is up.
   Goal: local under 50 ms.
2. Speed-up on two cores. A 16-trial digits sweep (SGD and Adam × four learning rates × two
   seeds, 128-128 MLP, 50 epochs: about half a second each) run end to end by the local
   backend with one worker (the trials one after another) and with two; both pay one pool
   start (about a second: the workers' imports). The trials alone,
   one after another in this process with one thread, are printed for reference. Goal ≥ 1.7×.

Machine noise moves these numbers; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def trivial_sweep(n: int) -> dict:
    return {
        "base": {
            "data": "xor",
            "hidden": [2],
            "epochs": 1,
            "batch_size": 400,
            "diagnostics": False,
            "val_fraction": 0.5,
        },
        "axes": {"lr": [0.01 + i * 1e-4 for i in range(n)]},
        "metric": "val_loss",
    }


DIGITS = {
    "base": {"data": "digits", "hidden": [128, 128], "epochs": 50, "batch_size": 32},
    "axes": {"optimizer": ["sgd", "adam"], "lr": [0.001, 0.003, 0.01, 0.03]},
    "seeds": 2,
}


def _timed_sweep(data: dict, **options) -> float:
    from nablab.sweep import parse_sweep, run_sweep

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        results = run_sweep(parse_sweep(data), folder, **options)
        seconds = time.perf_counter() - start
    failed = [t for t in results.trials if t["status"] != "done"]
    assert not failed, failed[0]["error"]
    return seconds


def _trial_seconds(data: dict, repeats: int = 50) -> float:
    """The trivial trial's own time, in this process, one thread."""
    from nablab.backend import set_num_threads
    from nablab.sweep import TRIAL_KINDS, parse_sweep

    set_num_threads(1)
    sweep = parse_sweep(data)
    kind = TRIAL_KINDS["train"]
    params = kind.resolve(sweep.base, {"lr": 0.01}, 0)
    kind.run(params)  # warm-up: data cache, kernels
    start = time.perf_counter()
    for _ in range(repeats):
        kind.run(params)
    return (time.perf_counter() - start) / repeats


def overhead(n: int, ray: bool) -> None:
    trial = _trial_seconds(trivial_sweep(1))
    print(f"trivial trial: {1e3 * trial:.2f} ms of work (in process, one thread)")
    print(f"{'backend':<8} {'N':>4} {'wall s':>8} {'amortized ms':>13} {'marginal ms':>12}")
    backends = [("local", {"workers": 2})]
    if ray:
        backends.append(("ray", {"workers": 2}))
    for name, options in backends:
        if name == "ray":
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only
            import ray as ray_module

            start = time.perf_counter()
            ray_module.init(
                num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False
            )
            print(f"ray: starting a local instance took {time.perf_counter() - start:.2f} s")
            _timed_sweep(trivial_sweep(4), backend="ray", **options)  # workers up and warm
        one = _timed_sweep(trivial_sweep(n), backend=name, **options)
        two = _timed_sweep(trivial_sweep(2 * n), backend=name, **options)
        marginal = (two - one) / n - trial / 2
        print(f"{name:<8} {n:>4} {one:>8.2f} {1e3 * one / n:>13.1f} {1e3 * marginal:>12.1f}")
        if name == "ray":
            ray_module.shutdown()


def speedup() -> None:
    from threadpoolctl import threadpool_limits

    from nablab.backend import set_num_threads
    from nablab.sweep import TRIAL_KINDS, parse_sweep
    from nablab.sweep.search import make_search

    sweep = parse_sweep(DIGITS)
    kind = TRIAL_KINDS["train"]
    params = [kind.resolve(sweep.base, p, s) for p in make_search(sweep).ask() for s in (0, 1)]
    set_num_threads(1)
    with threadpool_limits(1):
        kind.run(params[0])  # warm-up
        start = time.perf_counter()
        for p in params:
            kind.run(p)
        in_process = time.perf_counter() - start
    one = _timed_sweep(DIGITS, workers=1)
    two = _timed_sweep(DIGITS, workers=2)
    print(f"16 digits trials, one after another in this process: {in_process:.2f} s")
    print(f"local backend, 1 worker: {one:.2f} s; 2 workers: {two:.2f} s")
    print(f"speed-up on 2 cores: {one / two:.2f}× (goal ≥ 1.7×)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=100, help="N trivial trials (default 100)")
    parser.add_argument("--no-ray", dest="ray", action="store_false")
    parser.add_argument("--no-speedup", dest="speedup", action="store_false")
    args = parser.parse_args()
    if args.ray:
        try:
            import ray  # noqa: F401
        except ImportError:
            print("ray is not installed (pip install 'nablab[ray]'): local only")
            args.ray = False
    overhead(args.trials, args.ray)
    if args.speedup:
        speedup()


if __name__ == "__main__":
    main()
