"""The exercise file: a YAML description of a small network, validated into an ``Exercise``.

Every problem in a file is reported at once, one line each, with its path
(``layers[2].weights: expected 2 rows (the previous layer has 2 outputs), got 3``); an unknown
key is an error. Shapes follow nablab's layout: a linear layer's ``weights`` has one row per
input and one column per unit (column j feeds unit j).

A sample is a row of numbers, or a 1-D signal for a convolutional exercise: a list of
channels, each a list of values along the signal ((C, L) per sample), or one list of values
when the signal has one channel (a row read as (1, L) when the first layer that is not an
activation is a ``conv1d`` or pooling layer). A ``conv1d`` kernel is written as a student draws
it, one entry per output channel: that channel's taps (one input channel) or a list of taps per
input channel, so ``kernel[o][c][j]`` is PyTorch's ``weight[o, c, j]`` and nablab's
``weight[j, c, o]`` (layout (k, C_in, C_out)).
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
)
from pydantic_core import PydanticCustomError

from nablab._yaml import YamlInputError
from nablab._yaml import read as read_yaml
from nablab.errors import NablabError
from nablab.nn.activations import ACTIVATIONS
from nablab.nn.losses import LOSSES
from nablab.nn.sliding import output_size, same_padding
from nablab.optim.registry import OPTIMIZERS, base_names

Number = float
Names = list[str]
# A sample (or a kernel's output channel): values, or one list of values per channel.
Signal = list[Number | list[Number]]


class ExerciseError(NablabError):
    """Everything wrong with an exercise file, one ``path: message`` per problem."""

    def __init__(self, problems: list[str], source: str = "exercise") -> None:
        self.problems = problems
        self.source = source
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ParamNames(_Strict):
    weights: list[list[str]] | None = None
    bias: str | list[str] | None = None


class LinearLayer(_Strict):
    type: Literal["linear"]
    weights: list[list[Number]]
    bias: Number | list[Number] | None = None
    names: ParamNames | None = None
    output_names: Names | None = None
    update_weights: bool = True
    update_bias: bool = True


class ActivationLayer(_Strict):
    """Base of the activation layers; one subclass per registered activation, made by
    :func:`_activation_layer` with that activation's options as fields."""

    type: str
    output_names: Names | None = None

    def options(self) -> dict[str, float]:
        """The activation's options as the module takes them (``negative_slope=0.1``)."""
        return {name: getattr(self, name) for name in ACTIVATIONS.entry(self.type).options}


_OTHER_LAYERS = (
    "linear",
    "batchnorm",
    "dropout",
    "conv1d",
    "maxpool1d",
    "avgpool1d",
    "flatten",
)


def _activation_layer(entry) -> type[ActivationLayer]:
    names = (entry.name, *(a for a in entry.aliases if a not in _OTHER_LAYERS))
    fields: dict[str, Any] = {"type": (Literal[names], ...)}
    for option in entry.options.values():
        alias = AliasChoices(option.name, *option.aliases) if option.aliases else None
        fields[option.name] = (Number, Field(option.default, validation_alias=alias))
    name = "".join(part.title() for part in entry.name.split("_")) + "Layer"
    return create_model(name, __base__=ActivationLayer, **fields)


ACTIVATION_LAYERS = tuple(_activation_layer(entry) for entry in ACTIVATIONS.entries())


class NormNames(_Strict):
    gamma: list[str] | None = None
    beta: list[str] | None = None


class BatchNormLayer(_Strict):
    type: Literal["batchnorm"]
    eps: Number = 1e-5
    gamma: list[Number] | None = None
    beta: list[Number] | None = None
    names: NormNames | None = None
    output_names: Names | None = None
    update: bool = True


class DropoutLayer(_Strict):
    type: Literal["dropout"]
    p: Annotated[Number, Field(ge=0, lt=1)]
    mode: Literal["inverted", "scale_at_test"] = "inverted"
    mask: list[list[Literal[0, 1]]]
    output_names: Names | None = None


class ConvNames(_Strict):
    kernel: list[list[str | list[str]]] | None = None
    bias: list[str] | None = None


class Conv1dLayer(_Strict):
    """``kernel[o]``: output channel o's taps (one input channel) or a list of taps per input
    channel; ``bias``: one value per output channel; stride, padding and dilation as
    ``nn.Conv1d`` takes them (padding a whole number, ``same`` or ``valid``)."""

    type: Literal["conv1d"]
    kernel: Annotated[list[Signal], Field(min_length=1)]
    bias: list[Number] | None = None
    stride: Annotated[int, Field(ge=1)] = 1
    padding: int | str = 0
    dilation: Annotated[int, Field(ge=1)] = 1
    names: ConvNames | None = None
    output_names: Names | None = None
    update_kernel: bool = True
    update_bias: bool = True

    @field_validator("padding", mode="before")
    @classmethod
    def _padding(cls, value: Any) -> int | str:
        if value in ("same", "valid") and isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise PydanticCustomError(
            "padding",
            "expected a whole number ≥ 0, 'same' or 'valid', got {given}",
            {"given": repr(value)},
        )

    @field_validator("bias", mode="before")
    @classmethod
    def _bias(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise PydanticCustomError(
                "conv_bias",
                "expected a list, one value per output channel ([{given}] for one channel)",
                {"given": value},
            )
        return value

    @property
    def taps(self) -> int:
        first = self.kernel[0]
        return len(first[0]) if first and isinstance(first[0], list) else len(first)

    @property
    def in_channels(self) -> int:
        first = self.kernel[0]
        return len(first) if first and isinstance(first[0], list) else 1

    def kernel_array(self) -> list[list[list[float]]]:
        """The kernel as (C_out, C_in, k) nested lists (PyTorch's order)."""
        return [row if row and isinstance(row[0], list) else [row] for row in self.kernel]


class MaxPool1dLayer(_Strict):
    type: Literal["maxpool1d"]
    kernel_size: Annotated[int, Field(ge=1)]
    stride: Annotated[int, Field(ge=1)] | None = None  # the kernel size when omitted
    padding: Annotated[int, Field(ge=0)] = 0
    dilation: Annotated[int, Field(ge=1)] = 1
    output_names: Names | None = None


class AvgPool1dLayer(_Strict):
    type: Literal["avgpool1d"]
    kernel_size: Annotated[int, Field(ge=1)]
    stride: Annotated[int, Field(ge=1)] | None = None
    padding: Annotated[int, Field(ge=0)] = 0
    count_include_pad: bool = True
    output_names: Names | None = None


class FlattenLayer(_Strict):
    """Feature maps (C, L) to rows of C·L values, channel by channel: a renaming."""

    type: Literal["flatten"]


POOL_LAYERS = (MaxPool1dLayer, AvgPool1dLayer)
SIGNAL_LAYERS = (Conv1dLayer, *POOL_LAYERS)  # layers that read (C, L) feature maps

LAYER_TYPES = (_OTHER_LAYERS[0], *ACTIVATIONS.names(), *_OTHER_LAYERS[1:])
Layer = Annotated[
    Union[
        LinearLayer,
        *ACTIVATION_LAYERS,
        BatchNormLayer,
        DropoutLayer,
        Conv1dLayer,
        MaxPool1dLayer,
        AvgPool1dLayer,
        FlattenLayer,
    ],
    Field(discriminator="type"),
]


_REDUCTIONS = tuple(dict.fromkeys(r for cls in LOSSES.entries() for r in cls.value.reductions))


class LossSpec(_Strict):
    type: Literal[LOSSES.names()]
    reduction: Literal[_REDUCTIONS] = "mean"
    factor: Annotated[Number, Field(gt=0)] = 1.0
    logits: bool = False  # true: accept a softmax/sigmoid layer before a loss that applies it


class PenaltySpec(_Strict):
    type: Literal["l2", "l1"]
    strength: Annotated[Number, Field(ge=0)]
    convention: Literal["half", "full"] = "half"
    biases: bool = False


class OptimizerSpec(BaseModel):
    """``type`` and the options of that nablab optimizer (checked against its signature)."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)
    type: Literal[base_names()]

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Asked(_Strict):
    """A quantity the students compute, by its name in the naming scheme, and its points."""

    name: str
    points: Annotated[Number, Field(ge=0)] | None = None


class PartialCredit(_Strict):
    """``credit`` (a fraction of the points) for a wrong answer within ``within`` times its
    tolerance."""

    within: Annotated[Number, Field(gt=1)]
    credit: Annotated[Number, Field(ge=0, le=1)]


class Grading(_Strict):
    """How ``nablab grade`` scores a sheet and how a quiz export sets its tolerances."""

    points: Annotated[Number, Field(ge=0)] = 1.0  # per asked quantity, unless it says
    decimals: Annotated[int, Field(ge=0, le=12)] = 4  # decimals the students are asked for
    rtol: Annotated[Number, Field(ge=0, lt=1)] = 1e-3  # the checker's relative slack
    partial: list[PartialCredit] = Field(default_factory=list)
    rounding: Annotated[Number, Field(ge=0, le=1)] = 1.0  # credit for carried rounding alone


class Exercise(_Strict):
    title: str = "Worked solution"
    description: str | None = None
    inputs: list[Signal]
    targets: list[list[Number]] | list[int]
    input_names: Names | None = None
    target_names: Names | None = None
    layers: Annotated[list[Layer], Field(min_length=1)]
    loss: LossSpec
    penalty: PenaltySpec | None = None
    optimizer: OptimizerSpec
    steps: Annotated[int, Field(ge=1, le=1000)] = 1
    batch: Literal["full", "per_sample"] = "full"
    digits: Annotated[int, Field(ge=3, le=17)] = 9
    ask: list[str | Asked] | None = None
    grading: Grading = Field(default_factory=Grading)

    def asked(self) -> list[Asked]:
        """The asked quantities with their points (the default points where none is given)."""
        out = []
        for item in self.ask or []:
            asked = Asked(name=item) if isinstance(item, str) else item
            points = self.grading.points if asked.points is None else asked.points
            out.append(Asked(name=asked.name, points=points))
        return out

    @property
    def n_samples(self) -> int:
        return len(self.inputs)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One sample's shape: (d,) for a row, (C, L) for a signal (a row before a ``conv1d``
        or pooling layer is one channel)."""
        first = self.inputs[0]
        if first and isinstance(first[0], list):
            return (len(first), len(first[0]))
        reader = next(
            (layer for layer in self.layers if not isinstance(layer, ActivationLayer)), None
        )
        if isinstance(reader, SIGNAL_LAYERS):
            return (1, len(first))
        return (len(first),)

    @property
    def n_inputs(self) -> int:
        """The number of values in one sample."""
        return math.prod(self.input_shape)

    def input_array(self) -> list:
        """The inputs as (N, d) rows or (N, C, L) signals."""
        if len(self.input_shape) == 2 and not isinstance(self.inputs[0][0], list):
            return [[row] for row in self.inputs]
        return self.inputs


# ------------------------------------------------------------------------------- parsing


_LAYER_TAGS = {*LAYER_TYPES, *ACTIVATIONS.names(aliases=True)}
_UNION_MEMBERS = {
    "list[list[float]]",
    "list[int]",
    "float",
    "list[float]",
    "str",
    "list[str]",
    "Asked",
}


def _path(loc: tuple) -> str:
    """('layers', 2, 'linear', 'weights') → 'layers[2].weights' (union member tags dropped)."""
    out = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _UNION_MEMBERS or (
            part in _LAYER_TAGS and index > 0 and isinstance(loc[index - 1], int)
        ):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


_MESSAGES = {
    "list_type": "expected a list",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected text",
    "dict_type": "expected a mapping of keys",
    "model_type": "expected a mapping of keys",
    "finite_number": "expected a finite number",
    "too_short": "must not be empty",
}
_BOUNDS = {
    "greater_than_equal": ("≥", "ge"),
    "greater_than": (">", "gt"),
    "less_than_equal": ("≤", "le"),
    "less_than": ("<", "lt"),
}


def _message(item: dict) -> str:
    """A pydantic error in the project's own words, with what was received."""
    kind, given = item["type"], item.get("input")
    if kind == "extra_forbidden":
        return "unknown key (not part of the exercise format; see `nablab solve --help`)"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        tag = given.get("type") if isinstance(given, dict) else given
        return f"unknown layer type {tag!r}; valid: " + ", ".join(LAYER_TYPES)
    if kind == "union_tag_not_found":
        return "a layer needs a type; valid: " + ", ".join(LAYER_TYPES)
    if kind == "literal_error":
        expected = item.get("ctx", {}).get("expected", "")
        return f"expected {expected}, got {given!r}"
    if kind == "asked_type":
        return f"expected a quantity name or {{name: ..., points: ...}}, got {given!r}"
    if kind in _BOUNDS:
        symbol, ctx_key = _BOUNDS[kind]
        bound = item["ctx"][ctx_key]
        return f"must be {symbol} {bound:g}, got {given!r}"
    if kind in _MESSAGES:
        shown = "" if isinstance(given, dict | list) else f", got {given!r}"
        return _MESSAGES[kind] + shown
    return item["msg"]


def _asked_union(item: dict) -> dict | None:
    """An ``ask`` entry is a name or ``{name, points}``: report the branch that was meant."""
    loc = item["loc"]
    if len(loc) < 3 or loc[0] != "ask" or not isinstance(loc[1], int):
        return item
    mapping = loc[2] == "Asked"
    given = item.get("input")
    if (
        len(loc) == 3
        and isinstance(given, dict) != mapping
        and (isinstance(given, dict) or mapping)
    ):
        return None  # the other branch speaks for it
    if len(loc) == 3 and not isinstance(given, dict) and not isinstance(given, str):
        return {**item, "type": "asked_type", "loc": loc[:2]}
    return item


_VALUE_OR_LIST = {"float": "list[float]", "str": "list[str]"}


def _value_or_list(item: dict) -> dict | None:
    """A signal's entry is a value or a list of values (a channel): report the branch that
    was meant, by whether a list was given."""
    loc = item["loc"]
    if not loc or loc[0] not in ("inputs", "layers"):
        return item
    for depth, part in enumerate(loc):
        if part in _VALUE_OR_LIST and depth > 0 and isinstance(loc[depth - 1], int):
            if isinstance(item.get("input"), list):
                return None  # the list branch speaks for it
            return item
        if (
            part in _VALUE_OR_LIST.values()
            and depth == len(loc) - 1
            and isinstance(loc[depth - 1], int)
            and not isinstance(item.get("input"), list)
        ):
            return None  # the value branch speaks for it
    return item


def _pydantic_problems(error: ValidationError) -> list[str]:
    items = [
        i
        for i in (_asked_union(item) for item in error.errors())
        if i is not None and _value_or_list(i) is not None
    ]
    problems = [f"{_path(item['loc'])}: {_message(item)}" for item in items]
    return sorted(set(problems), key=problems.index)


def _check_matrix(rows: list[list[Any]], where: str, problems: list[str]) -> bool:
    if not rows or not rows[0]:
        problems.append(f"{where}: must be a non-empty matrix (a list of rows)")
        return False
    lengths = {len(row) for row in rows}
    if len(lengths) > 1:
        problems.append(f"{where}: rows have different lengths {sorted(lengths)}")
        return False
    return True


def _check_names(
    names: list[str] | None, count: int, where: str, what: str, problems: list[str]
) -> None:
    if names is not None and len(names) != count:
        problems.append(f"{where}: expected {count} names ({what}), got {len(names)}")


def _describe(shape: tuple[int, ...]) -> str:
    """(3,) → 'rows of 3 values', (2, 4) → 'feature maps of 2 channel(s) × 4 positions'."""
    if len(shape) == 1:
        return f"rows of {shape[0]} values"
    return f"feature maps of {shape[0]} channel(s) × {shape[1]} positions"


def _check_inputs(exercise: Exercise, problems: list[str]) -> tuple[int, ...] | None:
    """Rows of numbers, or signals: one list of values per channel, alike for every sample."""
    inputs = exercise.inputs
    if not inputs or not inputs[0]:
        problems.append("inputs: must be a non-empty matrix (a list of rows)")
        return None
    signals = isinstance(inputs[0][0], list)
    for n, sample in enumerate(inputs):
        kinds = {isinstance(v, list) for v in sample}
        if len(kinds) > 1:
            problems.append(
                f"inputs[{n}]: mixes numbers and lists; give a row of numbers, or one list of "
                "values per channel"
            )
        elif kinds and kinds != {signals}:
            like = "channels (lists of values)" if signals else "a row of numbers"
            problems.append(f"inputs[{n}]: expected {like} like inputs[0]")
    if problems:
        return None
    if not signals:
        return exercise.input_shape if _check_matrix(inputs, "inputs", problems) else None
    first = (len(inputs[0]), len(inputs[0][0]))
    for n, sample in enumerate(inputs):
        for c, channel in enumerate(sample):
            if not channel:
                problems.append(f"inputs[{n}][{c}]: a channel must not be empty")
        lengths = {len(channel) for channel in sample}
        if len(lengths) > 1:
            problems.append(
                f"inputs[{n}]: channels have different lengths {sorted(lengths)}; a signal's "
                "channels are equally long"
            )
        elif sample and (len(sample), len(sample[0])) != first:
            problems.append(
                f"inputs[{n}]: expected {first[0]} channel(s) of {first[1]} values like "
                f"inputs[0], got {len(sample)} of {len(sample[0])}"
            )
    return None if problems else first


def _has(source: str, verb: str = "has") -> str:
    """'the inputs have', 'the layer before it has' ('give'/'gives' with ``verb="gives"``)."""
    plural = {"has": "have", "gives": "give"}[verb]
    return f"{source} {plural}" if source == "the inputs" else f"{source} {verb}"


def conv_pads(layer: Conv1dLayer) -> tuple[int, int]:
    """The (left, right) zero padding of a conv1d layer (``same``: the extra one on the right,
    as PyTorch)."""
    if layer.padding == "valid":
        return (0, 0)
    if layer.padding == "same":
        return same_padding((layer.taps,), (layer.dilation,))[0]
    return (layer.padding, layer.padding)


def _check_conv(
    where: str, layer: Conv1dLayer, shape: tuple[int, int], source: str, problems: list[str]
) -> tuple[int, int] | None:
    channels, length = shape
    before = len(problems)
    for o, row in enumerate(layer.kernel):
        kinds = {isinstance(v, list) for v in row}
        if not row:
            problems.append(f"{where}.kernel[{o}]: must not be empty")
        elif len(kinds) > 1:
            problems.append(
                f"{where}.kernel[{o}]: mixes numbers and lists; give the taps (one input "
                "channel) or a list of taps per input channel"
            )
    if len(problems) > before:
        return None
    kernel = layer.kernel_array()
    taps = layer.taps
    for o, per_out in enumerate(kernel):
        if len(per_out) != channels:
            got = (
                "the taps of one"
                if not isinstance(layer.kernel[o][0], list)
                else f"{len(per_out)} lists of taps"
            )
            problems.append(
                f"{where}.kernel[{o}]: expected {channels} input channel(s), a list of taps per "
                f"channel ({_has(source)} {channels} channel(s)), got {got}"
            )
            continue
        for c, row in enumerate(per_out):
            at = f"{where}.kernel[{o}]" + (f"[{c}]" if isinstance(layer.kernel[o][0], list) else "")
            if not row:
                problems.append(f"{at}: must not be empty")
            elif len(row) != taps:
                problems.append(f"{at}: expected {taps} taps like the first, got {len(row)}")
    if len(problems) > before:
        return None
    out_channels = len(kernel)
    if layer.padding == "same" and layer.stride != 1:
        problems.append(f"{where}.padding: 'same' needs stride 1, got stride {layer.stride}")
        return None
    left, right = conv_pads(layer)
    padded = length + left + right
    positions = output_size(padded, taps, layer.stride, layer.dilation)
    if positions < 1:
        reach = layer.dilation * (taps - 1) + 1
        problems.append(
            f"{where}: the kernel reaches {reach} positions (dilation·(taps − 1) + 1), more than "
            f"the {padded} of the padded signal ({_has(source)} {length}): no output position"
        )
        return None
    if layer.bias is not None and len(layer.bias) != out_channels:
        problems.append(
            f"{where}.bias: expected {out_channels} values (one per output channel), got "
            f"{len(layer.bias)}"
        )
    names = layer.names
    if names is not None and names.kernel is not None:
        given = [r if r and isinstance(r[0], list) else [r] for r in names.kernel]
        if [[len(r) for r in per_out] for per_out in given] != [[taps] * channels] * out_channels:
            problems.append(
                f"{where}.names.kernel: expected names shaped like kernel ({out_channels} output "
                f"channel(s), {channels} input channel(s), {taps} taps)"
            )
    if names is not None and names.bias is not None:
        if layer.bias is None:
            problems.append(f"{where}.names.bias: the layer has no bias")
        else:
            _check_names(
                names.bias, out_channels, f"{where}.names.bias", "one per channel", problems
            )
    values = out_channels * positions
    products = values * channels * taps
    if values > MAX_FEATURE_VALUES or products > MAX_CONV_PRODUCTS:
        problems.append(
            f"{where}: {values:,} outputs per sample from {products:,} products; a worked "
            f"solution shows at most {MAX_FEATURE_VALUES:,} and {MAX_CONV_PRODUCTS:,}"
        )
    return None if len(problems) > before else (out_channels, positions)


def _check_pool(
    where: str, layer: Any, shape: tuple[int, int], source: str, problems: list[str]
) -> tuple[int, int] | None:
    channels, length = shape
    k, p = layer.kernel_size, layer.padding
    stride = layer.stride or k
    dilation = getattr(layer, "dilation", 1)
    if p > k // 2:
        problems.append(
            f"{where}.padding: must be at most half the kernel size ({k // 2} for kernel_size "
            f"{k}), got {p}"
        )
        return None
    positions = output_size(length + 2 * p, k, stride, dilation)
    if positions < 1:
        problems.append(
            f"{where}: a window reaches {dilation * (k - 1) + 1} positions, more than the "
            f"{length + 2 * p} of the padded signal ({_has(source)} {length}): no output position"
        )
        return None
    for o in range(positions):
        if all(not p <= o * stride + j * dilation < p + length for j in range(k)):
            problems.append(
                f"{where}: window {o + 1} reads padding only (length {length}, padding {p}, "
                f"dilation {dilation}); use less padding or dilation"
            )
            return None
    if channels * positions > MAX_FEATURE_VALUES:
        problems.append(
            f"{where}: {channels * positions:,} outputs per sample; a worked solution shows at "
            f"most {MAX_FEATURE_VALUES:,}"
        )
        return None
    return (channels, positions)


_READS_ROWS = (LinearLayer, BatchNormLayer, DropoutLayer)


def _check_layer(
    index: int, layer: Any, shape: tuple[int, ...], n_samples: int, problems: list[str]
) -> tuple[int, ...] | None:
    """Check one layer against the shape of one sample entering it; the shape leaving it, or
    None when it cannot be known."""
    where = f"layers[{index}]"
    source = "the inputs" if index == 0 else "the layer before it"
    before = len(problems)
    if isinstance(layer, (*SIGNAL_LAYERS, FlattenLayer)) and len(shape) != 2:
        problems.append(
            f"{where}: a {layer.type} layer reads signals (channels × positions), but "
            f"{_has(source, 'gives')} {_describe(shape)}"
        )
        return None
    rows_only = isinstance(layer, _READS_ROWS) or layer.type == "softmax"
    if rows_only and len(shape) != 1:
        problems.append(
            f"{where}: a {layer.type} layer reads rows, but {_has(source, 'gives')} "
            f"{_describe(shape)}; put a flatten layer before it"
        )
        return None
    if isinstance(layer, Conv1dLayer):
        out = _check_conv(where, layer, shape, source, problems)
    elif isinstance(layer, POOL_LAYERS):
        out = _check_pool(where, layer, shape, source, problems)
    elif isinstance(layer, FlattenLayer):
        return (math.prod(shape),)
    elif isinstance(layer, ActivationLayer):
        out = shape
    else:
        out = (_check_row_layer(where, index, layer, shape[0], n_samples, problems),)
    if out is not None and len(problems) == before:
        count = math.prod(out)
        what = "one per output" if len(out) == 1 else "one per output value, channel by channel"
        _check_names(layer.output_names, count, f"{where}.output_names", what, problems)
    return out


def _check_row_layer(
    where: str, index: int, layer: Any, width: int, n_samples: int, problems: list[str]
) -> int:
    if isinstance(layer, LinearLayer):
        if not _check_matrix(layer.weights, f"{where}.weights", problems):
            return width
        rows, units = len(layer.weights), len(layer.weights[0])
        if rows != width:
            source = "the inputs have" if index == 0 else "the previous layer has"
            hint = (
                f"; it looks transposed ({rows}×{units}): nablab's layout is one row per input "
                "and one column per unit"
                if units == width
                else ""
            )
            problems.append(
                f"{where}.weights: expected {width} rows ({source} {width} outputs), got "
                f"{rows}{hint}"
            )
        if isinstance(layer.bias, list) and len(layer.bias) != units:
            problems.append(
                f"{where}.bias: expected {units} values (one per unit) or one "
                f"number (shared), got {len(layer.bias)}"
            )
        names = layer.names
        if names is not None and names.weights is not None:
            shape = (
                len(names.weights),
                len({len(r) for r in names.weights}) == 1 and len(names.weights[0]),
            )
            if shape != (rows, units):
                problems.append(
                    f"{where}.names.weights: expected a {rows}×{units} matrix of names like weights"
                )
        if names is not None and names.bias is not None:
            if layer.bias is None:
                problems.append(f"{where}.names.bias: the layer has no bias")
            elif isinstance(layer.bias, list) != isinstance(names.bias, list):
                problems.append(
                    f"{where}.names.bias: give one name for a shared bias (a number) "
                    f"or a list of names for per-unit biases (a list)"
                )
            elif isinstance(names.bias, list):
                _check_names(names.bias, units, f"{where}.names.bias", "one per unit", problems)
        width = units
    elif isinstance(layer, BatchNormLayer):
        for what in ("gamma", "beta"):
            values = getattr(layer, what)
            if values is not None and len(values) != width:
                problems.append(
                    f"{where}.{what}: expected {width} values (one per feature), got {len(values)}"
                )
            if layer.names is not None:
                _check_names(
                    getattr(layer.names, what),
                    width,
                    f"{where}.names.{what}",
                    "one per feature",
                    problems,
                )
    elif isinstance(layer, DropoutLayer) and _check_matrix(layer.mask, f"{where}.mask", problems):
        shape = (len(layer.mask), len(layer.mask[0]))
        if shape != (n_samples, width):
            problems.append(
                f"{where}.mask: expected {n_samples}×{width} (one row per sample), "
                f"got {shape[0]}×{shape[1]}"
            )
    return width


def _check_optimizer(spec: OptimizerSpec, problems: list[str]) -> None:
    cls = OPTIMIZERS[spec.type]
    signature = inspect.signature(cls.__init__)
    valid = [name for name in signature.parameters if name not in ("self", "params")]
    for key in spec.options():
        if key not in valid:
            problems.append(
                f"optimizer.{key}: unknown option for {spec.type}; valid: {', '.join(valid)}"
            )
    required = [
        name
        for name, p in signature.parameters.items()
        if p.default is inspect.Parameter.empty and name not in ("self", "params")
    ]
    for key in required:
        if key not in spec.options():
            problems.append(f"optimizer.{key}: required for {spec.type}")
    declared = {option.name: option for option in cls.options}
    for key, value in spec.options().items():
        if key in declared and key != "betas":
            try:
                declared[key].check(value, "optimizer")
            except ValueError as error:
                problems.append(f"optimizer.{key}: " + str(error).split(": ", 1)[1])


def _walk_shapes(exercise: Exercise, problems: list[str]) -> list[tuple[int, ...]] | None:
    """The shape of one sample entering the network and leaving each layer (None where the
    checks stop)."""
    shape = _check_inputs(exercise, problems)
    if shape is None:
        return None
    shapes = [shape]
    for index, layer in enumerate(exercise.layers):
        shape = _check_layer(index, layer, shape, exercise.n_samples, problems)
        if shape is None:
            return None
        shapes.append(shape)
    return shapes


def layer_shapes(exercise: Exercise) -> list[tuple[int, ...]]:
    """One sample's shape entering the network, then leaving each layer: (d,) for rows,
    (C, L) for feature maps (of a validated exercise)."""
    shapes = _walk_shapes(exercise, [])
    assert shapes is not None, "layer_shapes needs a validated exercise"
    return shapes


def _cross_check(exercise: Exercise) -> list[str]:
    problems: list[str] = []
    shapes = _walk_shapes(exercise, problems)
    if shapes is None:
        if not any(p.startswith("inputs") for p in problems):
            _check_optimizer(exercise.optimizer, problems)
            _check_grading(exercise, problems)
        return problems
    n = exercise.n_samples
    what = "one per input" if len(shapes[0]) == 1 else "one per input value, channel by channel"
    _check_names(exercise.input_names, math.prod(shapes[0]), "input_names", what, problems)
    final = shapes[-1]
    if len(final) != 1:
        problems.append(
            f"layers: the network ends in {_describe(final)}; end with a flatten layer (and a "
            "read-out) so that the loss sees one row per sample"
        )
        _check_optimizer(exercise.optimizer, problems)
        return problems
    width = final[0]
    targets = exercise.targets
    if exercise.loss.type == "cross_entropy" and targets and isinstance(targets[0], int):
        if len(targets) != n:
            problems.append(
                f"targets: expected {n} class indices (one per sample), got {len(targets)}"
            )
        bad = [t for t in targets if not 0 <= t < width]
        if bad:
            problems.append(
                f"targets: class index {bad[0]} outside [0, {width}) "
                f"(the network has {width} outputs)"
            )
    elif targets and isinstance(targets[0], int):
        problems.append(
            "targets: class indices need loss type cross_entropy; give one row "
            "of target values per sample"
        )
    elif _check_matrix(targets, "targets", problems):
        shape = (len(targets), len(targets[0]))
        if shape != (n, width):
            problems.append(
                f"targets: expected {n}×{width} (one row per sample, one value per "
                f"output), got {shape[0]}×{shape[1]}"
            )
        elif exercise.loss.type == "bce" and any(not 0 <= t <= 1 for r in targets for t in r):
            problems.append("targets: binary cross-entropy targets must lie in [0, 1]")
    _check_names(exercise.target_names, width, "target_names", "one per output", problems)
    if exercise.loss.type == "cross_entropy" and exercise.loss.reduction == "batch_mean":
        problems.append("loss.reduction: cross_entropy takes mean or sum")
    _check_optimizer(exercise.optimizer, problems)
    _check_modelling(exercise, problems)
    _check_grading(exercise, problems)
    return problems


def _check_grading(exercise: Exercise, problems: list[str]) -> None:
    """Asked names given once; partial-credit tiers widening with falling credit."""
    seen: dict[str, int] = {}
    for index, asked in enumerate(exercise.asked()):
        name = asked.name.strip()
        if not name:
            problems.append(f"ask[{index}]: expected a quantity name, got an empty one")
        elif name in seen:
            problems.append(f"ask[{index}]: {name!r} is asked twice (also ask[{seen[name]}])")
        seen.setdefault(name, index)
    tiers = exercise.grading.partial
    for index in range(1, len(tiers)):
        before, tier = tiers[index - 1], tiers[index]
        if tier.within <= before.within:
            problems.append(
                f"grading.partial[{index}].within: expected more than the tier before "
                f"({before.within:g}), got {tier.within:g}"
            )
        if tier.credit > before.credit:
            problems.append(
                f"grading.partial[{index}].credit: a wider tier cannot give more credit "
                f"({tier.credit:g} > {before.credit:g})"
            )


# The layer a loss applies itself, and the outputs a loss needs.
_APPLIED = {"cross_entropy": "softmax", "bce_with_logits": "sigmoid"}
_PROBABILITIES = ("sigmoid", "softmax")


def _check_modelling(exercise: Exercise, problems: list[str]) -> None:
    """Modelling mistakes: a softmax or sigmoid applied twice, BCE on unbounded outputs,
    cross-entropy targets that are not distributions."""
    last = len(exercise.layers) - 1
    given = exercise.layers[-1].type
    kind = given if given in _OTHER_LAYERS else ACTIVATIONS.entry(given).name
    loss = exercise.loss
    applied = _APPLIED.get(loss.type)
    if applied is not None and kind == applied and not loss.logits:
        problems.append(
            f"layers[{last}]: a {applied} layer before loss {loss.type} applies {applied} twice "
            f"({loss.type} takes logits and applies {applied} itself); remove the layer, or set "
            "loss.logits: true to apply it twice on purpose"
        )
    if loss.type == "bce" and kind not in _PROBABILITIES:
        problems.append(
            f"layers[{last}]: loss bce needs probabilities in [0, 1], but the outputs of a "
            f"{given} layer are unbounded; end with a sigmoid layer, or use loss bce_with_logits"
        )
    targets = exercise.targets
    if loss.type == "cross_entropy" and targets and isinstance(targets[0], list):
        for row, values in enumerate(targets):
            if any(v < 0 for v in values) or abs(sum(values) - 1) > 1e-9:
                problems.append(
                    f"targets[{row}]: cross_entropy probability targets must be ≥ 0 and sum to "
                    f"1, got {values}"
                )


# What a worked solution can sensibly show, checked before anything is built: every scalar
# parameter gets its own equations, and every sample of every step its forward pass.
MAX_VALUES = 100_000  # numbers and names in the file, YAML aliases expanded
MAX_PARAMETERS = 5_000  # weights, biases, γ and β
MAX_SAMPLE_STEPS = 20_000  # samples × steps (per_sample: one update per sample)
MAX_FEATURE_VALUES = 20_000  # values of one sample's feature map after a conv1d or pooling layer
MAX_CONV_PRODUCTS = 100_000  # kernel × window products of one sample in a conv1d layer


def _count_values(data: Any, limit: int) -> int:
    """How many scalars ``data`` holds with every alias expanded, counting at most to
    ``limit`` + 1 (an alias bomb is stopped without being walked)."""
    count, stack = 0, [data]
    while stack and count <= limit:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        else:
            count += 1
    return count


def _size_problems(exercise: Exercise) -> list[str]:
    problems = []
    parameters = 0
    for layer in exercise.layers:
        if isinstance(layer, LinearLayer) and layer.weights and layer.weights[0]:
            units = len(layer.weights[0])
            bias = 0 if layer.bias is None else units if isinstance(layer.bias, list) else 1
            parameters += len(layer.weights) * units + bias
        elif isinstance(layer, BatchNormLayer):
            parameters += 2 * len(layer.gamma or ())
        elif isinstance(layer, Conv1dLayer):
            parameters += _count_values(layer.kernel, MAX_VALUES) + len(layer.bias or ())
    if parameters > MAX_PARAMETERS:
        problems.append(
            f"layers: {parameters:,} parameters; a worked solution shows at most {MAX_PARAMETERS:,}"
        )
    work = exercise.n_samples * exercise.steps
    if work > MAX_SAMPLE_STEPS:
        problems.append(
            f"steps: {exercise.n_samples} samples × {exercise.steps} steps = "
            f"{work:,} forward passes; a worked solution shows at most "
            f"{MAX_SAMPLE_STEPS:,}"
        )
    return problems


def parse_exercise(data: Any, source: str = "exercise") -> Exercise:
    """Validate parsed YAML (a mapping) into an ``Exercise`` or raise ``ExerciseError``."""
    if not isinstance(data, dict):
        raise ExerciseError(
            [f"(top level): expected a mapping of keys, got {type(data).__name__}"], source
        )
    if _count_values(data, MAX_VALUES) > MAX_VALUES:
        raise ExerciseError(
            [
                f"(top level): the file holds more than {MAX_VALUES:,} values (YAML aliases "
                "expanded); an exercise is small"
            ],
            source,
        )
    try:
        exercise = Exercise.model_validate(data)
    except ValidationError as error:
        raise ExerciseError(_pydantic_problems(error), source) from None
    problems = _size_problems(exercise)
    if problems:
        raise ExerciseError(problems, source)
    problems = _cross_check(exercise)
    if problems:
        raise ExerciseError(problems, source)
    return exercise


def load_exercise(path: str | Path) -> Exercise:
    """Read and validate an exercise file."""
    path = Path(path)
    try:
        data = read_yaml(path, "exercise")
    except YamlInputError as error:
        raise ExerciseError([str(error)], str(path)) from None
    return parse_exercise(data, str(path))
