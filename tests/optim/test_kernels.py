"""The numba kernels equal the NumPy references bit for bit; the backend switch works."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from nablab import backend, nn, optim
from nablab.nn import kernels as nn_kernels
from nablab.optim import kernels, rules

# name: (per-element arrays after w, hyperparameters, boolean option sets)
CASES = {
    "sgd_plain": (1, [0.1, 0.01], [()]),
    "sgd_buffer": (2, [0.1, 0.01, 0.9, 0.8], [(n, f) for n in (False, True) for f in (0, 1)]),
    "sgd_velocity": (2, [0.1, 0.01, 0.9], [(False,), (True,)]),
    "adagrad": (2, [0.1, 0.01, 1e-10], [(False,), (True,)]),
    "rmsprop": (
        4,
        [0.01, 0.01, 0.99, 0.01, 1e-8, 0.5],
        [(i, c, m) for i in (False, True) for c in (False, True) for m in (False, True)],
    ),
    "adam": (
        4,
        [0.01 / 0.1, 0.001, 0.001**0.5, 0.01, 0.999, 0.1, 0.999, 0.001, 1e-8, 1e-30],
        [(i, a) for i in (False, True) for a in (False, True)],
    ),
}


def _arrays(dtype, n, count, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=n).astype(dtype)]  # w
    arrays.append(rng.normal(size=n).astype(dtype))  # g
    # state: the first array (a second moment, where there is one) ≥ 1, the rest small, so
    # a centred variance r − ḡ² stays positive
    arrays += [
        (np.abs(rng.normal(size=n)) * 0.1 + (i == 0)).astype(dtype) for i in range(count - 1)
    ]
    return arrays


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(CASES))
def test_kernel_equals_reference_bit_for_bit(name, dtype):
    if not backend.numba_available():
        pytest.skip("numba is not installed: there is no kernel to compare")
    count, hyper, options = CASES[name]
    h = np.array(hyper, dtype=dtype)
    for flags in options:
        for step in range(3):  # state carried over three updates
            if step == 0:
                ref = _arrays(dtype, 1001, count, seed=len(flags))
                fast = [a.copy() for a in ref]
            rules.REFERENCE[name](*ref, h, *[bool(f) for f in flags])
            kernels.ACCELERATED[name](*fast, h, *[bool(f) for f in flags])
            for a, b in zip(ref, fast, strict=True):
                np.testing.assert_array_equal(a, b, err_msg=f"{name}{flags} step {step}")


def test_softmax_cross_entropy_reference_agrees_with_the_kernel():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(33, 10)) * 5
    target = rng.integers(0, 10, size=33)
    probs_a, probs_b = np.empty_like(logits), np.empty_like(logits)
    total_a, correct_a, bad_a = nn_kernels.softmax_cross_entropy_reference(logits, target, probs_a)
    with backend.use_kernels("auto"):
        total_b, correct_b, bad_b = nn_kernels.softmax_cross_entropy(logits, target, probs_b)
    np.testing.assert_allclose(probs_a, probs_b, rtol=1e-14)
    assert total_a == pytest.approx(total_b, rel=1e-14)
    assert (correct_a, bad_a) == (correct_b, bad_b)
    assert correct_a == int((logits.argmax(1) == target).sum())
    target[5] = 10
    assert nn_kernels.softmax_cross_entropy_reference(logits, target, probs_a)[2] == 5


@pytest.mark.parametrize(
    "make",
    [
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda p: optim.RMSProp(p, centered=True, momentum=0.5),
        lambda p: optim.Adam(p, lr=0.01, amsgrad=True, centralize="gradient"),
    ],
)
def test_training_gives_the_same_parameters_with_either_backend(make):
    def train(choice):
        rng = np.random.default_rng(0)
        model = nn.Sequential(nn.Linear(5, 7, rng=rng), nn.ReLU(), nn.Linear(7, 3, rng=rng))
        x = rng.normal(size=(16, 5)).astype(np.float32)
        y = rng.integers(0, 3, size=16)
        loss, opt = nn.CrossEntropyLoss(), make(model.parameters())
        with backend.use_kernels(choice):
            for _ in range(10):
                loss(model(x), y)
                opt.zero_grad()
                model.backward(loss.backward())
                opt.step()
        return [p.data.copy() for p in model.parameters()]

    for a, b in zip(train("numpy"), train("auto"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # the loss sums differ


def test_unknown_backend_and_thread_count_are_clear_errors():
    with pytest.raises(backend.BackendError, match="kernels must be one of auto, numba, numpy"):
        backend.use_kernels("fortran")
    with pytest.raises(backend.BackendError, match="positive integer"):
        backend.set_num_threads(0)


def test_nablab_works_without_numba_installed():
    """numba made unimportable: nablab imports, trains with the references, and says which."""
    script = (
        "import sys; sys.modules['numba'] = None\n"
        "import importlib.util; importlib.util.find_spec = (lambda f: lambda n, *a: None "
        "if n == 'numba' else f(n, *a))(importlib.util.find_spec)\n"
        "import numpy as np\n"
        "from nablab import backend, nn, optim\n"
        "assert backend.kernels() == 'numpy', backend.kernels()\n"
        "rng = np.random.default_rng(0)\n"
        "m = nn.Sequential(nn.Linear(4, 8, rng=rng), nn.ReLU(), nn.Linear(8, 3, rng=rng))\n"
        "x = rng.normal(size=(32, 4)).astype(np.float32); y = rng.integers(0, 3, 32)\n"
        "loss = nn.CrossEntropyLoss(); opt = optim.Adam(m.parameters(), lr=0.05)\n"
        "first = loss(m(x), y)\n"
        "for _ in range(50):\n"
        "    loss(m(x), y); opt.zero_grad(); m.backward(loss.backward()); opt.step()\n"
        "assert loss(m(x), y) < 0.5 * first\n"
        "assert 'numba' not in sys.modules or sys.modules['numba'] is None\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_thread_settings_reach_the_blas_library():
    script = (
        "from threadpoolctl import threadpool_info\n"
        "import numpy, nablab\n"
        "assert nablab.get_num_threads() == 3, nablab.get_num_threads()\n"
        "nablab.set_num_threads(1)\n"
        "assert nablab.get_num_threads() == 1\n"
        "blas = [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']\n"
        "assert blas and set(blas) == {1}, blas\n"
        "print('ok')\n"
    )
    env = {**os.environ, "NABLAB_THREADS": "3"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    env["NABLAB_THREADS"] = "many"
    done = subprocess.run(
        [sys.executable, "-c", "import nablab"], capture_output=True, text=True, env=env
    )
    assert "NABLAB_THREADS must be a positive integer, got 'many'" in done.stderr


@pytest.mark.parametrize("choice", ["numpy", "numba"])
def test_adam_flushes_denormal_moments_to_zero_but_keeps_nan(choice):
    if choice == "numba" and not backend.numba_available():
        pytest.skip("numba is not installed")
    with backend.use_kernels(choice):
        p = nn.Parameter(np.ones(3, np.float32))
        opt = optim.Adam([p], lr=1e-3)
        p.grad[...] = [1.0, 1.0, 1.0]
        opt.step()
        p.grad[...] = 0.0
        for _ in range(900):  # m decays as 0.9ᵗ: below float32's smallest normal by then
            opt.step()
        state = opt.state[p]
        assert np.all(state["m"] == 0) and not np.any(np.isnan(state["m"]))
        assert np.all(np.abs(state["v"]) >= np.finfo(np.float32).tiny)  # v decays slower
        p.grad[...] = [np.nan, 0.0, 0.0]
        opt.step()
        assert np.isnan(opt.state[p]["m"][0])  # a diverged run is not hidden
