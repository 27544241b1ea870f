"""Exercise files with ranges, for the tests of variants and quizzes."""

from __future__ import annotations

MAZUR = {
    "title": "Two sigmoid layers, random weights",
    "inputs": [[0.05, 0.10]],
    "targets": [[0.01, 0.99]],
    "layers": [
        {
            "type": "linear",
            "weights": {"random": [-1, 1], "decimals": 2},
            "bias": {"random": [0, 0.6], "decimals": 2, "shape": []},
            "names": {"weights": [["w1", "w3"], ["w2", "w4"]], "bias": "b1"},
        },
        {"type": "sigmoid"},
        {
            "type": "linear",
            "weights": {"random": [-1, 1], "decimals": 2},
            "bias": 0.6,
            "names": {"weights": [["w5", "w7"], ["w6", "w8"]]},
        },
        {"type": "sigmoid"},
    ],
    "loss": {"type": "mse", "reduction": "sum", "factor": 0.5},
    "optimizer": {
        "type": "sgd",
        "lr": {"choice": [0.1, 0.25, 0.5]},
        "momentum": 0.9,
        "convention": "velocity",
    },
    "steps": 2,
    "ask": ["w1", "w5", "loss@1", "grad(w5)@1"],
}

RELU_ADAM = {
    "title": "ReLU, Adam, two samples",
    "inputs": {"random": [-1, 1], "decimals": 1, "shape": [2, 3]},
    "targets": {"random": [0, 1], "decimals": 1},
    "layers": [
        {
            "type": "linear",
            "weights": {"random": [-1, 1], "decimals": 2},
            "bias": {"random": [-0.5, 0.5], "decimals": 2},
            "output_names": ["z1", "z2"],
        },
        {"type": "relu"},
        {"type": "linear", "weights": {"random": [-1, 1], "decimals": 2, "shape": [2, 2]}},
    ],
    "loss": {"type": "mse"},
    "optimizer": {"type": "adam", "lr": 0.1},
    "steps": 2,
}

SOFTMAX = {
    "title": "Softmax cross-entropy",
    "inputs": {"random": [-2, 2], "decimals": 1, "shape": [3, 2]},
    "targets": {"choice": [0, 1, 2]},
    "layers": [
        {
            "type": "linear",
            "weights": {"random": [-1, 1], "decimals": 2, "shape": [2, 3]},
            "bias": [0.0, 0.1, -0.1],
        },
    ],
    "loss": {"type": "cross_entropy"},
    "optimizer": {"type": "rmsprop", "lr": 0.05, "momentum": 0.5},
}
