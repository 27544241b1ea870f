"""The Ray backend: a single-node Ray cluster on the loopback interface, started and stopped
by this test, runs the same sweep as the local pool, to the same numbers."""

from __future__ import annotations

import secrets
import subprocess
import sys

import pytest

from nablab.sweep.results import load_results
from nablab.sweep.runner import run_sweep
from nablab.sweep.spec import parse_sweep

from helpers.sweep_helpers import env, metrics_by_trial, nablab, small, write_sweep

pytest.importorskip("ray", reason="the ray backend needs the ray extra (pip install nablab[ray])")

HEAD = """
import os, sys
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # bind the loopback interface only
import ray
info = ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20,
                logging_level="ERROR", log_to_driver=False)
print(info.address_info["gcs_address"], flush=True)
sys.stdin.read()
ray.shutdown()
"""


@pytest.fixture(scope="module")
def cluster():
    """The address of a Ray head on 127.0.0.1 and the environment that reaches it (Ray's token
    authentication with a token made for this test)."""
    variables = {**env(), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    head = subprocess.Popen(
        [sys.executable, "-c", HEAD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=variables,
    )
    try:
        address = head.stdout.readline().strip()
        assert address.startswith("127.0.0.1:"), address
        yield address, variables
    finally:
        head.stdin.close()  # the head shuts Ray down and leaves
        head.wait(timeout=60)
        head.stdout.close()


# sgd at lr 1000 diverges (a failed trial); the others finish.
SWEEP = small(axes={"optimizer": ["sgd", "adam"], "lr": [0.01, 1000.0]}, seeds=2)


def test_ray_and_local_give_identical_metrics_and_failures(cluster, tmp_path):
    address, variables = cluster
    path = write_sweep(tmp_path, SWEEP)
    out = str(tmp_path / "ray")
    command = ["sweep", str(path), "--out", out, "--backend", "ray", "--address", address]
    done = nablab(*command, "--quiet", env=variables)
    assert done.returncode == 1, done.stderr  # 1: some trial failed
    assert "failed: trial 2 (optimizer=sgd, lr=1000, seed=0): diverged: non-finite" in done.stdout
    on_ray = load_results(out)
    local = run_sweep(parse_sweep(SWEEP), tmp_path / "local", workers=2)
    statuses = ["done", "done", "failed", "failed", "done", "done", "done", "done"]
    assert [t["status"] for t in on_ray.trials] == statuses
    assert [t["status"] for t in local.trials] == statuses
    assert [t["error"] for t in on_ray.trials] == [t["error"] for t in local.trials]
    assert metrics_by_trial(on_ray) == metrics_by_trial(local)
    assert on_ray.summary_csv() == local.summary_csv()
    assert all(t["history"] for t in on_ray.trials)
    workers = {t["worker"] for t in on_ray.trials}
    assert workers.isdisjoint({t["worker"] for t in local.trials})
