"""``nablab train``, ``summary`` and ``lab run`` with fuzzed flags, data files and parameters:
a result or a clear error, within a time bound, never a traceback."""

from __future__ import annotations

import gzip
import io
import os
import struct

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nablab import lab

from .harness import run_command

EXAMPLES_COUNT = int(os.environ.get("NABLAB_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES_COUNT,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

NUMBERS = st.sampled_from(
    [
        "0",
        "-1",
        "1",
        "2",
        "0.5",
        "1e-9",
        "1e9",
        "1e400",
        "nan",
        "inf",
        "-inf",
        "abc",
        "",
        "3.5",
        "100000000",
        "1,2",
        "0x10",
        "--",
    ]
)
FLAGS = {
    "--lr": NUMBERS,
    "--momentum": NUMBERS,
    "--weight-decay": NUMBERS,
    "--epochs": NUMBERS,
    "--batch-size": NUMBERS,
    "--dropout": NUMBERS,
    "--val-fraction": NUMBERS,
    "--seed": NUMBERS,
    "--patience": NUMBERS,
    "--hidden": st.sampled_from(["8", "8,8", "", ",", "0", "-3", "a", "4,,4", "100000,100000"]),
    "--optimizer": st.sampled_from(["adam", "sgd", "momentum", "newton", "lion", ""]),
    "--activation": st.sampled_from(["relu", "selu", "softmax", "gelu", ""]),
    "--init": st.sampled_from(["he_normal", "zeros", "kaiming_uniform", "nope"]),
    "--schedule": st.sampled_from(["cosine", "step", "none", "linear"]),
    "--dtype": st.sampled_from(["float32", "float64", "float16", "int8"]),
    "--model": st.sampled_from(["mlp", "cnn", "rnn"]),
    "--channels": st.sampled_from(["4", "4,4", "", "0"]),
    "--kernel-size": NUMBERS,
    "--stride": NUMBERS,
    "--augment": st.sampled_from(
        ["shift=1", "rotation=10", "shift=-1", "bogus=1", "shift", "shift=1,shift=2", "scale=0"]
    ),
    "--data": st.sampled_from(["moons", "xor", "blobs", "digits", "nowhere.npz", "cifar"]),
}


@FUZZ
@given(
    flags=st.dictionaries(st.sampled_from(sorted(FLAGS)), st.just(None), max_size=4).flatmap(
        lambda chosen: st.fixed_dictionaries({k: FLAGS[k] for k in chosen})
    )
)
def test_fuzzed_train_flags(tmp_path_factory, flags):
    work = tmp_path_factory.mktemp("train")
    argv = [
        "train",
        "--epochs",
        "1",
        "--quiet",
        "--no-diagnostics",
        "--data",
        "moons",
        "--out",
        "run",
    ]
    for flag, value in flags.items():
        argv += [f"{flag}={value}"]
    outcome = run_command(argv, work, outputs=("run",))
    if outcome.code == 0:
        assert (work / "run" / "metrics.json").is_file()
    run_command(["summary", "--data", "moons", *argv[8:]], work)


def _npz(arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _idx(array: np.ndarray, code: int = 0x08) -> bytes:
    head = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    return head + array.astype(array.dtype.newbyteorder(">")).tobytes()


@st.composite
def data_file(draw):
    n = draw(st.integers(0, 40))
    d = draw(st.integers(0, 4))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    x = rng.normal(size=(n, d))
    y = rng.integers(0, draw(st.integers(1, 4)), size=n)
    twist = draw(
        st.sampled_from(
            [
                "none",
                "nan",
                "inf",
                "complex",
                "float_labels",
                "huge_label",
                "negative_label",
                "ragged",
                "strings",
                "3d",
                "mismatch",
            ]
        )
    )
    if twist == "nan" and x.size:
        x.flat[0] = np.nan
    elif twist == "inf" and x.size:
        x.flat[-1] = np.inf
    elif twist == "complex":
        x = x + 1j
    elif twist == "float_labels":
        y = y + 0.5
    elif twist == "huge_label" and n:
        y[0] = 10**12
    elif twist == "negative_label" and n:
        y[0] = -1
    elif twist == "3d":
        x = x.reshape(n, d, 1)
    elif twist == "mismatch":
        y = y[: max(n - 1, 0)]
    kind = draw(st.sampled_from(["npz", "csv", "idx", "garbage"]))
    if kind == "npz":
        arrays = {"x": x, "y": y} if twist != "strings" else {"x": np.array(["a"]), "y": y}
        return "data.npz", _npz(arrays), None
    if kind == "csv":
        rows = [
            ",".join(map(str, [*row, label]))
            for row, label in zip(np.atleast_2d(x.reshape(n, d).real), y, strict=False)
        ]
        if twist == "ragged" and rows:
            rows[0] += ",1"
        text = ("a,b,label\n" if draw(st.booleans()) else "") + "\n".join(rows)
        return "data.csv", text.encode(), None
    if kind == "idx":
        images = (
            (np.abs(x.real) * 50).astype(np.uint8).reshape(n, d, 1)
            if d
            else np.zeros((n, 2, 2), np.uint8)
        )
        labels = _idx(
            np.asarray(y, dtype=np.uint8 if twist != "float_labels" else np.float32),
            0x08 if twist != "float_labels" else 0x0D,
        )
        raw = _idx(images)
        if draw(st.booleans()):
            raw = raw[: draw(st.integers(0, len(raw)))]
        if draw(st.booleans()):
            raw, labels = gzip.compress(raw), gzip.compress(labels)
        return "images", raw, labels
    return "data.npz", draw(st.binary(max_size=300)), None


@FUZZ
@given(case=data_file())
def test_fuzzed_data_files(tmp_path_factory, case):
    work = tmp_path_factory.mktemp("data")
    name, raw, labels = case
    (work / name).write_bytes(raw)
    argv = [
        "train",
        "--data",
        name,
        "--epochs",
        "1",
        "--quiet",
        "--no-diagnostics",
        "--hidden",
        "4",
        "--val-fraction",
        "0.5",
    ]
    if labels is not None:
        (work / "labels").write_bytes(labels)
        argv += ["--labels", "labels"]
    run_command(argv, work)


CHEAP = (
    "adam-bias-correction",
    "newton",
    "stability-limits",
    "two-class-softmax",
    "dropout-ensemble",
    "adaptive-step-sizes",
    "saddle-escape",
)
VALUES = st.sampled_from(
    [
        "0",
        "-1",
        "1",
        "2",
        "0.5",
        "1e-9",
        "1e300",
        "nan",
        "inf",
        "abc",
        "",
        "1,2",
        "true",
        "relu",
        "1e6",
        "100000",
        "3",
    ]
)


@settings(
    max_examples=max(EXAMPLES_COUNT // 2, 10),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    name=st.sampled_from(CHEAP), picks=st.lists(st.tuples(st.integers(0, 20), VALUES), max_size=2)
)
def test_fuzzed_lab_parameters(tmp_path_factory, name, picks):
    work = tmp_path_factory.mktemp("lab")
    names = [o.name for o in lab.EXPERIMENTS[name].parameters] + ["unknown"]
    argv = ["lab", "run", name, "--quick"]
    for index, value in picks:
        argv += ["--set", f"{names[index % len(names)]}={value}"]
    run_command(argv, work)
