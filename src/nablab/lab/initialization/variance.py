"""init-variance: each layer's pre-activation variance and activation histogram through a deep
network, for four initializations and four activations, recorded through forward hooks."""

from __future__ import annotations

import numpy as np

from nablab import nn
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option

INITS = ("normal", "xavier_normal", "lecun_normal", "he_normal")
LABELS = {
    "normal": "N(0, 1)",
    "xavier_normal": "Xavier 2/(fan_in + fan_out)",
    "lecun_normal": "LeCun 1/fan_in",
    "he_normal": "He 2/fan_in",
}
ACTIVATIONS = ("sigmoid", "tanh", "relu", "selu")


def _deep(width: int, depth: int, activation: str, init: str, seed: int) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [
            nn.Linear(width, width, init=init, rng=rng, dtype=np.float64),
            nn.activation(activation),
        ]
    return nn.Sequential(*layers)


def _record(model: nn.Sequential, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every layer's pre-activations z and activations a, through forward hooks."""
    z, a = [], []
    handles = [
        m.register_forward_hook(lambda m, i, o: (z if isinstance(m, nn.Linear) else a).append(o))
        for m in model
    ]
    model(x)
    for handle in handles:
        handle.remove()
    return z, a


def _saturated(activation: str, a: np.ndarray) -> float:
    """Share of activations beyond 99% of the way to a bound (derivative below ~2%)."""
    if activation == "tanh":
        return float(np.mean(np.abs(a) > 0.99))
    if activation == "sigmoid":
        return float(np.mean(np.abs(2 * a - 1) > 0.99))
    return 0.0


@experiment(
    "init-variance",
    "initialization",
    "With N(0, 1) weights a unit's pre-activation has variance n·E[x²] (n inputs), so tanh and "
    "sigmoid saturate; scaled initializations keep the variance steady through depth when "
    "they match the activation: He (2/fan_in) for ReLU, LeCun (1/fan_in) for SELU, Xavier for "
    "tanh; with ReLU, Xavier or LeCun halve the variance at every layer.",
    (
        Option("width", int, 256, "units per layer (= fan_in = fan_out)", 2, 4096),
        Option("depth", int, 12, "layers", 2, 100),
        Option("samples", int, 1000, "inputs x ~ N(0, I)", 10, 10**6),
        Option("seed", int, 0, "seed", 0),
    ),
    quick={"width": 128, "samples": 500},
    source="004 (initialization: variance n, Xavier, LeCun, He; saturation)",
)
def init_variance(params):
    n, depth = params["width"], params["depth"]
    x = np.random.default_rng(params["seed"]).normal(size=(params["samples"], n))
    variances, saturation, means, kept = {}, {}, {}, {}
    for activation in ACTIVATIONS:
        for init in INITS:
            z, a = _record(_deep(n, depth, activation, init, params["seed"] + 1), x)
            key = f"{activation}/{init}"
            variances[key] = [float(v.var()) for v in z]
            saturation[key] = [_saturated(activation, v) for v in a]
            means[key] = [float(v.mean()) for v in a]
            if (activation, init) in (
                ("tanh", "normal"),
                ("tanh", "xavier_normal"),
                ("relu", "xavier_normal"),
                ("relu", "he_normal"),
            ):
                kept[key] = [a[0], a[depth // 2 - 1], a[-1]]
    expected_first = n * float(np.mean(x**2))
    first = variances["tanh/normal"][0]

    def ratio(key):
        return variances[key][-1] / variances[key][0]

    relu_halving = {
        init: float(np.exp(np.mean(np.diff(np.log(variances[f"relu/{init}"])))))
        for init in ("xavier_normal", "lecun_normal")
    }
    selu = variances["selu/lecun_normal"][-1], means["selu/lecun_normal"][-1]
    numbers = {
        "pre_activation_variance": variances,
        "saturated_share": {
            k: v for k, v in saturation.items() if k.split("/")[0] in ("tanh", "sigmoid")
        },
        "activation_mean": means,
        "first_layer_variance_with_normal_weights": first,
        "n_times_mean_x2": expected_first,
        "relu_per_layer_variance_ratio": relu_halving,
    }
    checks = [
        Check(
            "with N(0, 1) weights the first pre-activation variance is n·E[x²]",
            abs(first / expected_first - 1) < 0.1,
            f"measured {first:.1f} against n·E[x²] = {n}·{np.mean(x**2):.3f} = "
            f"{expected_first:.1f}",
        ),
        Check(
            "with N(0, 1) weights tanh and sigmoid saturate (most activations within 1% of a "
            "bound)",
            min(saturation["tanh/normal"][-1], saturation["sigmoid/normal"][-1]) > 0.5,
            f"saturated in the last layer: tanh {saturation['tanh/normal'][-1]:.0%}, sigmoid "
            f"{saturation['sigmoid/normal'][-1]:.0%} (with Xavier: tanh "
            f"{saturation['tanh/xavier_normal'][-1]:.0%})",
        ),
        Check(
            "He initialization keeps ReLU's pre-activation variance steady (within a factor "
            f"of 2 over {depth} layers)",
            0.5 <= ratio("relu/he_normal") <= 2,
            f"last/first layer variance {ratio('relu/he_normal'):.2f}",
        ),
        Check(
            "LeCun initialization keeps SELU at mean 0 and variance 1",
            abs(selu[1]) < 0.1 and abs(variances["selu/lecun_normal"][-1] - 1) < 0.2,
            f"last layer: pre-activation variance {selu[0]:.3f}, activation mean {selu[1]:+.3f}",
        ),
        Check(
            "Xavier initialization keeps tanh's pre-activation variance steady (within a factor "
            f"of 2 over {depth} layers)",
            0.5 <= ratio("tanh/xavier_normal") <= 2,
            f"last/first layer variance {ratio('tanh/xavier_normal'):.2f}: for small variance v, "
            "E[tanh(z)²] ≈ v − 2v², so v falls like 1/(2·layer) (Xavier's derivation assumes "
            "tanh is linear)",
        ),
        Check(
            "with ReLU, Xavier and LeCun initialization halve the variance at every layer",
            all(abs(v - 0.5) < 0.05 for v in relu_halving.values()),
            "mean ratio of consecutive layers: "
            + ", ".join(f"{LABELS[k]} {v:.3f}" for k, v in relu_halving.items())
            + " (E[relu(z)²] = Var(z)/2 for symmetric z)",
        ),
    ]
    return numbers, [_draw_variances(variances, params), _draw_histograms(kept, params)], checks


def _draw_variances(variances, params):
    from nablab.viz import PALETTE, new_figure

    figure, axes = new_figure(13, 3.8, 1, len(ACTIVATIONS), sharey=True)
    layers = np.arange(1, params["depth"] + 1)
    for ax, activation in zip(axes, ACTIVATIONS, strict=True):
        for i, init in enumerate(INITS):
            values = np.maximum(variances[f"{activation}/{init}"], 1e-30)
            dashed = init == "xavier_normal"  # equal to LeCun when fan_in = fan_out
            ax.plot(
                layers,
                values,
                "s--" if dashed else "o-",
                ms=5 if dashed else 3,
                color=PALETTE[i],
                label=LABELS[init],
                zorder=3 if dashed else 2,
            )
        ax.set_yscale("log")
        ax.set_xticks(layers[1::2])
        ax.set_title(activation)
    figure.supxlabel("layer")
    figure.supylabel("variance of the pre-activations z (log)")
    figure.suptitle(
        f"Through {params['depth']} layers of {params['width']} units, x ~ N(0, I) (Xavier = "
        "LeCun when fan_in = fan_out)"
    )
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    return figure


def _draw_histograms(kept, params):
    from nablab.viz import PALETTE, new_figure

    figure, axes = new_figure(12, 6, 2, 3, squeeze=False)
    depth = params["depth"]
    names = ("layer 1", f"layer {depth // 2}", f"layer {depth}")
    for row, activation in enumerate(("tanh", "relu")):
        for col in range(3):
            ax = axes[row][col]
            for i, (key, layers) in enumerate(
                k for k in kept.items() if k[0].startswith(activation)
            ):
                init = key.split("/")[1]
                ax.hist(
                    layers[col].ravel(),
                    bins=60,
                    histtype="step",
                    density=True,
                    color=PALETTE[i * 2],
                    label=LABELS[init],
                )
            ax.set_title(f"{activation}, {names[col]}", fontsize=9)
            if activation == "relu":
                ax.set_yscale("log")
        axes[row][0].legend(loc="upper center", fontsize=7)
    figure.supxlabel("activation value")
    figure.supylabel("density (ReLU row: log scale)")
    figure.suptitle("Activation histograms: tanh saturates with N(0, 1); ReLU fades with Xavier")
    return figure
