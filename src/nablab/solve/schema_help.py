"""The exercise and answer formats as ``nablab solve --help`` and ``nablab check --help`` print
them, generated from the registries (importing nothing heavy)."""

from __future__ import annotations

from nablab.nn.activations import ACTIVATIONS
from nablab.nn.losses import LOSSES
from nablab.optim.registry import OPTIMIZERS, base_names

FORMATS = ("text", "markdown", "html", "json")


def _activation_lines() -> list[str]:
    lines = []
    plain = [e.name for e in ACTIVATIONS.entries() if not e.options]
    lines.append(f"    - {{type: {' | '.join(plain)}, output_names: [...]}}")
    for entry in ACTIVATIONS.entries():
        if entry.options:
            options = ", ".join(f"{o.name}: {o.default}" for o in entry.options.values())
            lines.append(f"    - {{type: {entry.name}, {options}}}")
    return lines


def _optimizer_lines() -> list[str]:
    lines = []
    for name in base_names():
        entry = OPTIMIZERS.entry(name)
        options = ", ".join(o.name for o in entry.options.values())
        lines.append(f"      {name:<8} {options}")
    return lines


def schema_help() -> str:
    reductions = " | ".join(dict.fromkeys(r for e in LOSSES.entries() for r in e.value.reductions))
    return (
        "\n".join(
            [
                "exercise file (YAML):",
                "  title: text                              optional",
                "  description: text                        optional, shown above the solution",
                "  inputs: [[x11, x12], ...]                one row per sample; a signal per "
                "sample before a conv1d or pooling layer:",
                "          [[x1, x2, ...]] or [[[channel 1 ...], [channel 2 ...]], ...]  (C, L) "
                "per sample; a row is one channel",
                "  targets: [[t11, t12], ...]               rows; or class indices [2, 0, ...] for "
                "cross_entropy",
                "  input_names: [i1, i2]                    optional (default x1, x2, ...)",
                "  target_names: [t1, t2]                   optional (default t1, t2, ...)",
                "  layers:                                  in order; a linear layer's weights are "
                "(inputs, units)",
                "    - type: linear",
                "      weights: [[w11, w12], [w21, w22]]    column j feeds unit j",
                "      bias: 0.35 | [b1, b2]                number: shared by the layer; list: per "
                "unit; omit: none",
                "      names: {weights: [[w1, w3], [w2, w4]], bias: b1}    optional scalar names",
                "      output_names: [net_h1, net_h2]       optional",
                "      update_weights: true                 optional",
                "      update_bias: true                    optional",
                *_activation_lines(),
                "    - {type: batchnorm, eps: 1e-5, gamma: [...], beta: [...],",
                "       names: {gamma: [...], beta: [...]}}",
                "    - {type: dropout, p: 0.5, mode: inverted | scale_at_test,",
                "       mask: [[1, 0], ...]}                one mask row per sample",
                "    - type: conv1d                         reads signals (C, L); a cross-"
                "correlation, as PyTorch",
                "      kernel: [[k1, k2, k3]]               one entry per output channel: its "
                "taps (one input channel)",
                "              [[[taps of channel 1], ...]]   or a list of taps per input "
                "channel: kernel[o][c][j]",
                "      bias: [b1]                           one per output channel; omit: none",
                "      stride: 1, padding: 0 | same | valid, dilation: 1   as nn.Conv1d",
                "      names: {kernel: [[...]], bias: [...]}   optional, shaped like kernel, bias",
                "      update_kernel: true, update_bias: true   optional",
                "    - {type: maxpool1d, kernel_size: 2, padding: 0, dilation: 1, stride: ...}",
                "    - {type: avgpool1d, kernel_size: 2, padding: 0, count_include_pad: true, "
                "stride: ...}   stride: the kernel size unless given",
                "    - {type: flatten}                      feature maps to rows, channel by "
                "channel (a renaming)",
                f"  loss: {{type: {' | '.join(LOSSES.names())},",
                f"         reduction: {reductions}, factor: 1.0, logits: false}}",
                "                                           logits: true accepts a softmax/sigmoid "
                "layer before a loss that applies it",
                "                                           mse with reduction sum and factor 0.5: "
                "E = ½ Σ (t − o)²",
                "  penalty: {type: l2 | l1, strength: 0.01, convention: half | full, biases: false}"
                "   optional",
                f"  optimizer: {{type: {' | '.join(base_names())}, lr: 0.5, ...}} and that "
                "optimizer's options:",
                *_optimizer_lines(),
                "  steps: 1                                 passes over the samples",
                "  batch: full | per_sample                 one update per pass, or one per sample "
                "in order",
                "  digits: 9                                significant digits in the solution",
                "  ask: [out_h1@1, {name: w5, points: 2}]   what students compute (grade, quizzes)",
                "  grading: {points: 1, decimals: 4, rtol: 1e-3, rounding: 1.0,",
                "            partial: [{within: 10, credit: 0.5}]}   points per answer, the "
                "decimals asked for, partial credit for an answer within 10× its tolerance",
                "  any number may be a range for `nablab variants`: {random: [-1, 1], decimals: 2}"
                " or {choice: [0.1, 0.5]}; a whole matrix with shape: [rows, columns]",
                "",
                NAMING,
            ]
        )
        + "\n"
    )


NAMING = """\
names (what --explain, --names and `nablab check` read; every name a solution prints):
  w5@1 parameter after step 1 (@0 before, @final after the last; no @: the last step)
  out_h1@1, z1_2[3]@1   forward values ([n]: sample n; ~: at Nesterov's look-ahead point)
  loss@1 or E@1, E_data@1, R@1, loss@final; p2[1]@1 softmax probabilities of cross_entropy
  grad(w5)@1 = ∂E/∂w5 = dE/dw5; g(w5) the gradient after weight decay/centralization
  state as printed: v(w5) = v_w5 (velocity or Adam's v), b(w5) buffer, m, mhat, vhat, vmax,
  s (AdaGrad), r, gbar (RMSProp); also velocity(w5), square_avg(w5), momentum(w5)
  mean(z1_1), var(z1_1), xhat(z1_1[2]) batch norm; d(w5) Newton's direction
  signals and feature maps, position t from 1, channel index left out for one channel:
  x_c[t] or x[t] inputs; conv1d layer 1: K1[o,c,j] kernel (output channel o, input channel c,
  tap j; K1[j] with one input and one output channel), b1[o] or b1, z1_o[t] or z1[t] outputs;
  after it a1_o[t] activations, mp1_o[t] max pooling, ap1_o[t] average pooling; a flatten
  layer keeps the names; grad(x[3]) the input gradient of a first conv1d layer;
  z1[4][2]: position 4 of sample 2
  Greek letters in ASCII: gamma1[1] = γ1[1], beta1[1] = β1[1]"""


CHECK_HELP = (
    """\
answer file (YAML), quantity: number as you wrote it (its last decimal sets the tolerance,
shown with every answer; a value equal to the one before the update is wrong):
  w5: 0.3589          the parameter after the last step      w5@1: after step 1
  out_h1@1: 0.5933    a forward value in step 1              loss@1, loss@final
  grad(w5)@1: 0.0822  a gradient                             v(w5)@1, m(w5)@1: state
"""
    + "\n"
    + NAMING
    + "\n"
)
