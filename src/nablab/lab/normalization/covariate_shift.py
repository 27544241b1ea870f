"""covariate-shift: the mean and spread of every hidden layer's input over training, with and
without BatchNorm, recorded through forward hooks."""

from __future__ import annotations

import numpy as np

from nablab import nn, optim
from nablab.lab.common import DATASETS, dataset, mlp
from nablab.lab.experiment import Check, experiment
from nablab.registry import Option
from nablab.train import fit

KINDS = {"plain": None, "BatchNorm": "batch"}


class _Recorder:
    """Forward hooks: per training step, each activation's per-unit batch mean and standard
    deviation (the input of the next layer), and each BatchNorm's normalized values x̂."""

    def __init__(self, model: nn.Sequential) -> None:
        self.means: dict[int, list[np.ndarray]] = {}
        self.stds: dict[int, list[np.ndarray]] = {}
        self.normalized: list[tuple[float, float]] = []
        self.handles = []
        layer = 0
        for module in model:
            if isinstance(module, nn.ReLU):
                self.handles.append(module.register_forward_hook(self._activation(layer)))
                layer += 1
            elif isinstance(module, nn.BatchNorm1d):
                self.handles.append(module.register_forward_hook(self._batchnorm))

    def _activation(self, layer: int):
        def record(module, x, y):
            if module.training:
                self.means.setdefault(layer, []).append(y.mean(axis=0))
                self.stds.setdefault(layer, []).append(y.std(axis=0))

        return record

    def _batchnorm(self, module, x, y):
        if module.training:
            x_hat = (y - module.bias.data) / module.weight.data
            self.normalized.append(
                (
                    float(np.max(np.abs(x_hat.mean(axis=0)))),
                    float(np.max(np.abs(x_hat.std(axis=0) - 1))),
                )
            )

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def _drift(means: np.ndarray, stds: np.ndarray, window: int) -> tuple[float, float]:
    """How far each unit's input distribution moved from the first ``window`` steps to the
    last: mean over units of |Δmean|/std at the start, and of |log(std at the end / at the
    start)|."""
    first_mean, last_mean = means[:window].mean(axis=0), means[-window:].mean(axis=0)
    first_std, last_std = stds[:window].mean(axis=0), stds[-window:].mean(axis=0)
    alive = (first_std > 1e-8) & (last_std > 1e-8)
    shift = np.abs(last_mean - first_mean)[alive] / first_std[alive]
    spread = np.abs(np.log(last_std[alive] / first_std[alive]))
    return float(shift.mean()), float(spread.mean())


@experiment(
    "covariate-shift",
    "normalization",
    "As the earlier layers learn, the distribution of each hidden layer's input (its mean and "
    "spread) shifts; BatchNorm, which fixes every unit's batch statistics before γ and β, "
    "keeps that shift smaller in every layer.",
    (
        Option("data", str, "digits", "the dataset", choices=DATASETS),
        Option("epochs", int, 6, "epochs", 1, 1000),
        Option("depth", int, 4, "hidden layers", 1, 20),
        Option("hidden", int, 64, "units per hidden layer", 1, 4096),
        Option("lr", float, 0.05, "SGD learning rate (momentum 0.9)", 0.0, low_open=True),
        Option("window", int, 20, "steps averaged at the start and at the end", 1, 10000),
        Option("seed", int, 0, "seed", 0),
    ),
    quick={"epochs": 3},
    source="002 (covariate shift and BatchNorm)",
)
def covariate_shift(params):
    x, y, _, _ = dataset(params["data"])
    widths = (x.shape[1], *[params["hidden"]] * params["depth"], int(y.max()) + 1)
    records, drift = {}, {}
    for kind, norm in KINDS.items():
        model = mlp(widths, params["seed"], norm=norm)
        recorder = _Recorder(model)
        fit(
            model,
            nn.CrossEntropyLoss(),
            optim.SGD(model.parameters(), lr=params["lr"], momentum=0.9),
            (x, y),
            epochs=params["epochs"],
            seed=params["seed"],
        )
        recorder.remove()
        records[kind] = recorder
        drift[kind] = [
            _drift(np.array(recorder.means[i]), np.array(recorder.stds[i]), params["window"])
            for i in sorted(recorder.means)
        ]
    layers = range(1, params["depth"] + 1)
    shift = {k: [d[0] for d in v] for k, v in drift.items()}
    spread = {k: [d[1] for d in v] for k, v in drift.items()}
    normalized = np.array(records["BatchNorm"].normalized)
    numbers = {
        "mean_shift_in_start_stds": {
            k: dict(zip(map(str, layers), v, strict=True)) for k, v in shift.items()
        },
        "spread_change_abs_log": {
            k: dict(zip(map(str, layers), v, strict=True)) for k, v in spread.items()
        },
        "batchnorm_xhat_largest_abs_mean": float(normalized[:, 0].max()),
        "batchnorm_xhat_largest_abs_std_minus_1": float(normalized[:, 1].max()),
    }

    def listing(values):
        return ", ".join(f"{v:.3f}" for v in values)

    checks = [
        Check(
            "inside BatchNorm every unit has batch mean 0 and standard deviation 1 at every "
            "training step",
            normalized[:, 0].max() < 1e-10 and normalized[:, 1].max() < 1e-3,
            f"over {len(normalized)} forward passes: largest |mean of x̂| "
            f"{normalized[:, 0].max():.1e}, largest |std of x̂ − 1| {normalized[:, 1].max():.1e}",
        ),
        Check(
            "BatchNorm keeps the shift of each layer's input mean smaller, in every layer",
            all(b < p for b, p in zip(shift["BatchNorm"], shift["plain"], strict=True)),
            f"|Δ mean| / start std, layers 1…{params['depth']}: plain {listing(shift['plain'])}; "
            f"BatchNorm {listing(shift['BatchNorm'])}",
        ),
        Check(
            "BatchNorm keeps the change of each layer's input spread smaller, in every layer",
            all(b < p for b, p in zip(spread["BatchNorm"], spread["plain"], strict=True)),
            f"|log(end std / start std)|, layers 1…{params['depth']}: plain "
            f"{listing(spread['plain'])}; BatchNorm {listing(spread['BatchNorm'])}",
        ),
    ]
    return numbers, [_draw(records, params)], checks


def _draw(records, params):
    from nablab.viz import PALETTE, new_figure

    depth = params["depth"]
    figure, axes = new_figure(3.2 * depth, 4.2, 1, depth, sharey=True, squeeze=False)
    for column in range(depth):
        ax = axes[0][column]
        for i, (kind, recorder) in enumerate(records.items()):
            means = np.array(recorder.means[column]).mean(axis=1)
            stds = np.array(recorder.stds[column]).mean(axis=1)
            steps = np.arange(1, len(means) + 1)
            ax.plot(steps, means, color=PALETTE[i], label=f"{kind}: mean")
            ax.plot(steps, stds, "--", color=PALETTE[i], label=f"{kind}: std")
        ax.set_title(f"input of layer {column + 2}", fontsize=9)
    figure.supxlabel("training step")
    figure.supylabel("batch mean and std of a unit, averaged over units")
    figure.suptitle(
        f"Each hidden layer's input during training ({params['data']}, SGD lr {params['lr']:g})"
    )
    figure.legend(*axes[0][0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    return figure
