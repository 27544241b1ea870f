"""Convolution, pooling and flatten in a worked solution, forward and backward.

A conv1d output is its bias plus the kernel times the window it sees; in matrix form the
windows are the rows of X_col (im2col) and the layer is Z = X_col·K + b, as the engine computes
it. Backward, entry by entry: ∂E/∂K[o,c,j] is the correlation of the input with δ = ∂E/∂z
(and, in matrix form, ∂E/∂K = X_colᵀ·δ), ∂E/∂b[o] sums δ over the positions, and ∂E/∂x is the
full convolution of δ with the flipped kernel. Max pooling takes the largest value of each
window and sends the window's gradient to it; average pooling divides by the window's size;
flatten renames.

Positions are numbered from 1 in names and formulas: window t (stride s, dilation d, left
padding p) reads tap j at input position s·(t − 1) + d·(j − 1) + 1 − p. Taps on the zero
padding contribute nothing and are left out of every sum.
"""

from __future__ import annotations

import numpy as np

from nablab import nn
from nablab.i18n import Listing, M
from nablab.solve.expr import Call, Div, Expr, Paren, Partial, Sym, Transpose, matrix, total
from nablab.solve.spec import Conv1dLayer, conv_pads
from nablab.solve.trace import Pass, rows
from nablab.solve.writers.backward import BACKWARD, _parameter_gradient, _through
from nablab.solve.writers.base import LOSS, Writer
from nablab.solve.writers.forward import FORWARD
from nablab.solve.writers.loss import PENALTIES, penalized

Window = list[tuple[int, int]]  # (tap j, input position u), both from 0, inside the signal


def geometry(w: Writer, position: int) -> tuple[int, int, int, int, int]:
    """(taps, stride, dilation, left pad, right pad) of the conv1d or pooling layer."""
    spec = w.exercise.layers[position]
    if isinstance(spec, Conv1dLayer):
        left, right = conv_pads(spec)
        return spec.taps, spec.stride, spec.dilation, left, right
    k = spec.kernel_size
    return k, spec.stride or k, getattr(spec, "dilation", 1), spec.padding, spec.padding


def windows(w: Writer, position: int) -> list[Window]:
    """The taps of each output position that land inside the signal entering the layer."""
    taps, stride, dilation, left, _ = geometry(w, position)
    length = w.shape_in(position)[1]
    count = w.built.shapes[position][1]
    out = []
    for t in range(count):
        starts = ((j, t * stride + j * dilation - left) for j in range(taps))
        out.append([(j, u) for j, u in starts if 0 <= u < length])
    return out


def _affine(a: int, symbol: str, b: int) -> str:
    """a·symbol + b as printed: 't + j − 1', '2t − 1'."""
    head = symbol if a == 1 else f"{a}{symbol}"
    return head + (f" + {b}" if b > 0 else f" − {-b}" if b < 0 else "")


def _window_index(w: Writer, position: int) -> str:
    """The input position tap j of window t reads: s·(t − 1) + d·(j − 1) + 1 − p."""
    _, stride, dilation, left, _ = geometry(w, position)
    constant = 1 - stride - dilation - left
    return _affine(stride, "t", 0) + " + " + _affine(dilation, "j", constant)


class _Names:
    """One layer's names by (channel, position) for the entering and leaving values."""

    def __init__(self, w: Writer, p: Pass, position: int) -> None:
        self.sfx = p.suffix
        self.names_in, self.values_in = w.entering(p, position)
        self.tag_in = w.entering_tag(position, p)
        self.tag = p.tag
        self.length = w.shape_in(position)[1]
        self.positions = w.built.shapes[position][1]
        self.names_out = w.built.output_names[position]

    def x(self, row: int, c: int, u: int) -> str:
        return self.names_in[c * self.length + u] + self.sfx(row) + self.tag_in

    def x_value(self, row: int, c: int, u: int) -> float:
        return float(self.values_in[row, c * self.length + u])

    def x_grad(self, row: int, c: int, u: int) -> str:
        """The name of ∂E/∂x: at the look-ahead point an input's gradient takes the tag too."""
        return self.names_in[c * self.length + u] + self.sfx(row) + self.tag

    def y(self, row: int, o: int, t: int) -> str:
        return self.names_out[o * self.positions + t] + self.sfx(row) + self.tag


def _generic_names(c_in: int, c_out: int) -> tuple[str, str, str, str]:
    """(z, b, K, x) with the channel indices a layer's names carry."""
    if c_in == c_out == 1:
        return "z[t]", "b", "K[j]", "x"
    z, b = ("z[t]", "b") if c_out == 1 else ("z_o[t]", "b[o]")
    return z, b, "K[o,c,j]", "x" if c_in == 1 else "x_c"


# ------------------------------------------------------------------------------- conv1d


def _kernel_matrix(w: Writer, position: int, values: dict[str, float]) -> np.ndarray:
    """The kernel (or its gradient) as the engine's (k·C_in, C_out) matrix: row (j, c)."""
    weights = w.scalars(position, "weight")
    taps, c_in, c_out = w.built.model[position].weight.shape
    out = np.zeros((taps * c_in, c_out))
    for s in weights:
        j, c, o = s.index
        out[j * c_in + c, o] = values[s.name]
    return out


def _im2col(w: Writer, p: Pass, position: int) -> np.ndarray:
    """X_col: one row per (sample, output position), one column per (tap, input channel)."""
    c_in, length = w.shape_in(position)
    taps, *_ = geometry(w, position)
    values = w.entering(p, position)[1].reshape(-1, c_in, length)
    spans = windows(w, position)
    cols = np.zeros((values.shape[0] * len(spans), taps * c_in))
    for n in range(values.shape[0]):
        for t, window in enumerate(spans):
            for j, u in window:
                cols[n * len(spans) + t, j * c_in : (j + 1) * c_in] = values[n, :, u]
    return cols


def _by_position(array: np.ndarray) -> np.ndarray:
    """(n, C, T) as (n·T, C): one row per (sample, position), as the engine's Z and δ."""
    return np.moveaxis(array, 1, -1).reshape(-1, array.shape[1])


@FORWARD.register(nn.Conv1d)
def conv1d(w: Writer, p: Pass, position: int, module: nn.Conv1d) -> None:
    """Z = X_col·K + b, then z_o[t] = b[o] + Σ_c Σ_j K[o,c,j]·x_c[s·(t − 1) + d·(j − 1) + 1 − p]
    entry by entry."""
    number = w.built.linear_number[position]
    taps, stride, dilation, left, right = geometry(w, position)
    c_in, c_out = module.in_channels, module.out_channels
    z, b, k, x = _generic_names(c_in, c_out)
    channel_sum = "" if c_in == 1 else "Σ_c "
    bias = f"{b} + " if module.bias is not None else ""
    formula = f"{z} = {bias}{channel_sum}Σ_j {k}·{x}[{_window_index(w, position)}]"
    w.para(
        M(
            "solve.conv.forward",
            "Each output is the bias plus the kernel times the window it sees ({taps} taps, "
            "stride {stride}, padding {left} on the left and {right} on the right, dilation "
            "{dilation}); positions are numbered from 1 and taps on the zero padding are left "
            "out: ⁅{formula}⁆",
            taps=taps,
            stride=stride,
            left=left,
            right=right,
            dilation=dilation,
            formula=formula,
        )
    )
    _forward_matrix(w, p, position, module, number)
    names = _Names(w, p, position)
    kernel = {s.index: s for s in w.scalars(position, "weight")}
    biases = w.scalars(position, "bias")
    out = rows(p.layers[position].output)
    spans = windows(w, position)
    for row in range(len(p.samples)):
        for o in range(c_out):
            for t, window in enumerate(spans):
                terms_s: list[Expr] = []
                terms_n: list[Expr] = []
                for c in range(c_in):
                    for j, u in window:
                        entry = kernel[(j, c, o)]
                        terms_s.append(Sym(w.param_name(entry, p)) * Sym(names.x(row, c, u)))
                        terms_n.append(w.n(p.params[entry.name]) * w.n(names.x_value(row, c, u)))
                if biases:
                    terms_s.append(Sym(w.param_name(biases[o], p)))
                    terms_n.append(w.n(p.params[biases[o].name]))
                name = names.y(row, o, t)
                value = w.n(out[row, o * len(spans) + t])
                if not terms_s:  # every tap on the padding and no bias
                    w.eq(Sym(name), value, key=w.key(name))
                    continue
                w.eq(Sym(name), total(terms_s), total(terms_n), value, key=w.key(name))


def _forward_matrix(w: Writer, p: Pass, position: int, module: nn.Conv1d, number: int) -> None:
    """X_col and Z = X_col·K + b with the numbers: the product the engine computes."""
    tag_in, tag = w.entering_tag(position, p), p.tag
    cols_name, k_name, z_name = f"X_col{number}{tag_in}", f"K{number}{tag}", f"Z{number}{tag}"
    bias = f" + b{number}{tag}" if module.bias is not None else ""
    w.para(
        M(
            "solve.conv.im2col",
            "In matrix form (im2col): row r of ⁅{cols}⁆ is the window that output position r "
            "sees (one row per sample and position, one column per tap and input channel), "
            "⁅{kernel}⁆ has one row per tap and input channel and one column per output "
            "channel, and ⁅{formula}⁆:",
            cols=cols_name,
            kernel=k_name,
            formula=f"{z_name} = {cols_name}·{k_name}{bias}",
        )
    )
    cols = _im2col(w, p, position)
    kernel = _kernel_matrix(w, position, p.params)
    w.eq(Sym(cols_name), matrix(cols, w.digits), value=cols)
    z = _by_position(p.layers[position].output)
    symbolic: Expr = Sym(cols_name) * Sym(k_name)
    numeric: Expr = matrix(cols, w.digits) * matrix(kernel, w.digits)
    given: dict = {k_name: kernel}
    if module.bias is not None:
        bias = np.array([[p.params[s.name] for s in w.scalars(position, "bias")]])
        symbolic = symbolic + Sym(f"b{number}{tag}")
        numeric = numeric + matrix(bias, w.digits)
        given[f"b{number}{tag}"] = bias
    w.eq(Sym(z_name), symbolic, numeric, matrix(z, w.digits), value=z, given=given)


@BACKWARD.register(nn.Conv1d)
def conv1d_backward(w: Writer, p: Pass, position: int, module: nn.Conv1d) -> None:
    """∂E/∂K = X_colᵀ·δ; ∂E/∂K[o,c,j] = Σ_t x_c[…]·∂E/∂z_o[t]; ∂E/∂b[o] = Σ_t ∂E/∂z_o[t];
    ∂E/∂x_c[u] = Σ_o Σ_t ∂E/∂z_o[t]·K[o,c,j] over the windows t that read u with tap j."""
    number = w.built.linear_number[position]
    c_in, c_out = module.in_channels, module.out_channels
    z, b, k, x = _generic_names(c_in, c_out)
    names = _Names(w, p, position)
    delta = rows(p.layers[position].grad)
    spans = windows(w, position)
    _backward_matrix(w, p, position, number)
    w.para(
        M(
            "solve.conv.kernel_gradient",
            "Each kernel entry: the correlation of the input with δ (summed over the samples "
            "too), ⁅{formula}⁆:",
            formula=f"∂{LOSS}/∂{k} = Σ_t {x}[{_window_index(w, position)}]·∂{LOSS}/∂{z}",
        )
    )
    for s in w.scalars(position, "weight"):
        j, c, o = s.index
        terms_s, terms_n = [], []
        for row in range(len(p.samples)):
            for t, window in enumerate(spans):
                for tap, u in window:
                    if tap == j:
                        terms_s.append(Sym(names.x(row, c, u)) * Partial(LOSS, names.y(row, o, t)))
                        terms_n.append(
                            w.n(names.x_value(row, c, u)) * w.n(delta[row, o * len(spans) + t])
                        )
        _parameter_gradient(w, p, s, terms_s or [w.n(0)], terms_n or [w.n(0)])
    biases = w.scalars(position, "bias")
    if biases:
        w.para(
            M(
                "solve.conv.bias_gradient",
                "Each bias: δ of its output channel summed over the positions (and samples), "
                "⁅{formula}⁆:",
                formula=f"∂{LOSS}/∂{b} = Σ_t ∂{LOSS}/∂{z}",
            )
        )
    for s in biases:
        o = s.index[0]
        rows_ = range(len(p.samples))
        terms_s = [Partial(LOSS, names.y(r, o, t)) for r in rows_ for t in range(len(spans))]
        terms_n = [w.n(delta[r, o * len(spans) + t]) for r in rows_ for t in range(len(spans))]
        _parameter_gradient(w, p, s, terms_s, terms_n)
    if position == 0 and not w.built.input_gradients:
        return
    _input_gradient(w, p, position, module, names, delta, spans)


def _backward_matrix(w: Writer, p: Pass, position: int, number: int) -> None:
    """δ and ∂E/∂K = X_colᵀ·δ (+ the penalty's term) with the numbers."""
    tag_in, tag = w.entering_tag(position, p), p.tag
    cols_name, k_name = f"X_col{number}{tag_in}", f"K{number}{tag}"
    delta_name = f"delta{number}{tag}"
    delta_text = f"δ{number}{tag}"
    w.para(
        M(
            "solve.conv.matrix_backward",
            "Layer {n} (Conv1d) in matrix form, ⁅δ{number} = ∂{loss}/∂Z{number}⁆ (one row per "
            "sample and position, one column per output channel), and ⁅{gradient}⁆ with the "
            "⁅X_col{number}⁆ of the forward pass:",
            n=position + 1,
            number=number,
            loss=LOSS,
            gradient=f"∂{LOSS}/∂{k_name} = {cols_name}ᵀ·{delta_text}",
        )
    )
    delta = _by_position(p.layers[position].grad)
    cols = _im2col(w, p, position)
    kernel = _kernel_matrix(w, position, p.params)
    gradient = _kernel_matrix(w, position, p.grads)
    w.eq(Sym(delta_name), matrix(delta, w.digits), value=delta)
    symbolic: Expr = Transpose(Sym(cols_name)) * Sym(delta_name)
    numeric: Expr = Transpose(matrix(cols, w.digits)) * matrix(delta, w.digits)
    weights = w.scalars(position, "weight")
    if any(s in penalized(w) for s in weights):
        term_s, term_n = PENALTIES.lookup(w.built.penalty).matrix(
            w, w.built.penalty, Sym(k_name), kernel
        )
        symbolic, numeric = symbolic + term_s, numeric + term_n
    w.eq(
        Partial(LOSS, k_name),
        symbolic,
        numeric,
        matrix(gradient, w.digits),
        value=gradient,
        given={cols_name: cols, k_name: kernel},
    )


def _input_gradient(
    w: Writer,
    p: Pass,
    position: int,
    module: nn.Conv1d,
    names: _Names,
    delta: np.ndarray,
    spans: list[Window],
) -> None:
    """∂E/∂x_c[u] = Σ_o Σ_t ∂E/∂z_o[t]·K[o,c,j]: t ascending, so the kernel is read flipped."""
    _, stride, dilation, left, _ = geometry(w, position)
    c_in, c_out = module.in_channels, module.out_channels
    z, _, k, x = _generic_names(c_in, c_out)
    channel_sum = "" if c_out == 1 else "Σ_o "
    if stride == dilation == 1:
        k_at = k.replace("j", f"u − t + {1 + left}" if left else "u − t + 1")
        formula = f"∂{LOSS}/∂{x}[u] = {channel_sum}Σ_t ∂{LOSS}/∂{z}·{k_at}"
    else:
        formula = (
            f"∂{LOSS}/∂{x}[u] = {channel_sum}Σ_(t, j: {_window_index(w, position)} = u) "
            f"∂{LOSS}/∂{z}·{k}"
        )
    w.para(
        M(
            "solve.conv.input_gradient",
            "Each input gradient: the full convolution of δ with the flipped kernel (δ taken as "
            "0 beyond its ends; an input no window reads gets 0), ⁅{formula}⁆:",
            formula=formula,
        )
    )
    kernel = {s.index: s for s in w.scalars(position, "weight")}
    g_in = w.entering_grad(p, position)
    reads: dict[int, list[tuple[int, int]]] = {}  # input position u → (window t, tap j)
    for t, window in enumerate(spans):
        for j, u in window:
            reads.setdefault(u, []).append((t, j))
    for row in range(len(p.samples)):
        for c in range(c_in):
            for u in range(names.length):
                terms_s: list[Expr] = []
                terms_n: list[Expr] = []
                for o in range(c_out):
                    for t, j in reads.get(u, []):
                        entry = kernel[(j, c, o)]
                        terms_s.append(
                            Partial(LOSS, names.y(row, o, t)) * Sym(w.param_name(entry, p))
                        )
                        terms_n.append(
                            w.n(delta[row, o * len(spans) + t]) * w.n(p.params[entry.name])
                        )
                name = names.x_grad(row, c, u)
                value = w.n(g_in[row, c * names.length + u])
                key = w.key(f"grad({name})")
                if not terms_s:
                    w.eq(Partial(LOSS, name), value, key=key)
                    continue
                w.eq(Partial(LOSS, name), total(terms_s), total(terms_n), value, key=key)


# ------------------------------------------------------------------------------- pooling


def _max_window(names: _Names, row: int, c: int, window: Window) -> int:
    """The input position of a window's maximum (the first one on a tie, as the engine)."""
    values = [names.x_value(row, c, u) for _, u in window]
    return window[values.index(max(values))][1]


@FORWARD.register(nn.MaxPool1d)
def max_pool(w: Writer, p: Pass, position: int, module: nn.MaxPool1d) -> None:
    """y_c[t] = max over the window's taps inside the signal (the padding is −∞)."""
    taps, stride, dilation, left, _ = geometry(w, position)
    w.para(
        M(
            "solve.pool.max",
            "Each output is the largest value of its window ({taps} positions, stride {stride}, "
            "padding {padding}, dilation {dilation}; the padding is never the largest):",
            taps=taps,
            stride=stride,
            padding=left,
            dilation=dilation,
        )
    )
    names = _Names(w, p, position)
    out = rows(p.layers[position].output)
    spans = windows(w, position)
    for row in range(len(p.samples)):
        for c in range(w.shape_in(position)[0]):
            for t, window in enumerate(spans):
                name = names.y(row, c, t)
                value = w.n(out[row, c * len(spans) + t])
                if len(window) == 1:
                    u = window[0][1]
                    w.eq(
                        Sym(name),
                        Sym(names.x(row, c, u)),
                        w.n(names.x_value(row, c, u)),
                        value,
                        key=w.key(name),
                    )
                    continue
                symbols = tuple(Sym(names.x(row, c, u)) for _, u in window)
                numbers = tuple(w.n(names.x_value(row, c, u)) for _, u in window)
                w.eq(Sym(name), Call("max", symbols), Call("max", numbers), value, key=w.key(name))


@BACKWARD.register(nn.MaxPool1d)
def max_pool_backward(w: Writer, p: Pass, position: int, module: nn.MaxPool1d) -> None:
    """∂E/∂x_c[u] = Σ of ∂E/∂y_c[t] over the windows t whose maximum is at u (else 0)."""
    _through(w, position, module)
    w.para(
        M(
            "solve.pool.max_backward",
            "Each window's gradient goes to its largest value (the first one on a tie) and to "
            "no other position; a value that is no window's maximum gets 0:",
        )
    )
    names = _Names(w, p, position)
    delta = rows(p.layers[position].grad)
    g_in = w.entering_grad(p, position)
    spans = windows(w, position)
    for row in range(len(p.samples)):
        for c in range(w.shape_in(position)[0]):
            winners: dict[int, list[int]] = {}
            for t, window in enumerate(spans):
                winners.setdefault(_max_window(names, row, c, window), []).append(t)
            for u in range(names.length):
                _routed(w, names, row, c, u, winners.get(u, []), delta, g_in, len(spans))


def _routed(w, names: _Names, row, c, u, windows_, delta, g_in, count, divisors=None) -> None:
    """∂E/∂x_c[u] as the sum of the gradients routed to it (each divided by its window's
    divisor for average pooling), or 0."""
    name = names.x(row, c, u)
    value = w.n(g_in[row, c * names.length + u])
    key = w.key(f"grad({name})")
    if not windows_:
        w.eq(Partial(LOSS, name), value, key=key)
        return
    terms_s: list[Expr] = []
    terms_n: list[Expr] = []
    for t in windows_:
        g_s = Partial(LOSS, names.y(row, c, t))
        g_n = w.n(delta[row, c * count + t])
        if divisors is None:
            terms_s.append(g_s)
            terms_n.append(g_n)
        else:
            terms_s.append(Div(g_s, w.n(divisors[t])))
            terms_n.append(Div(g_n, w.n(divisors[t])))
    w.eq(Partial(LOSS, name), total(terms_s), total(terms_n), value, key=key)


def _divisors(w: Writer, position: int, module: nn.AvgPool1d) -> list[int]:
    """The number each window's sum is divided by: the kernel size, or its positions inside
    the signal (``count_include_pad: false``)."""
    taps = geometry(w, position)[0]
    if module.count_include_pad:
        return [taps] * len(windows(w, position))
    return [len(window) for window in windows(w, position)]


@FORWARD.register(nn.AvgPool1d)
def avg_pool(w: Writer, p: Pass, position: int, module: nn.AvgPool1d) -> None:
    """y_c[t] = (Σ of the window's values inside the signal)/m, m its divisor."""
    taps, stride, _, left, _ = geometry(w, position)
    if module.count_include_pad or not left:
        w.para(
            M(
                "solve.pool.avg",
                "Each output is the mean of its window ({taps} positions, stride {stride}, "
                "padding {padding}; the zero padding counts in the divisor {taps}):",
                taps=taps,
                stride=stride,
                padding=left,
            )
        )
    else:
        w.para(
            M(
                "solve.pool.avg_inside",
                "Each output is the mean of its window ({taps} positions, stride {stride}, "
                "padding {padding}; the divisor counts the window's positions inside the "
                "signal only):",
                taps=taps,
                stride=stride,
                padding=left,
            )
        )
    names = _Names(w, p, position)
    out = rows(p.layers[position].output)
    spans = windows(w, position)
    divisors = _divisors(w, position, module)
    for row in range(len(p.samples)):
        for c in range(w.shape_in(position)[0]):
            for t, window in enumerate(spans):
                name = names.y(row, c, t)
                m = w.n(divisors[t])
                symbolic = total([Sym(names.x(row, c, u)) for _, u in window])
                numeric = total([w.n(names.x_value(row, c, u)) for _, u in window])
                w.eq(
                    Sym(name),
                    Div(Paren(symbolic), m),
                    Div(Paren(numeric), m),
                    w.n(out[row, c * len(spans) + t]),
                    key=w.key(name),
                )


@BACKWARD.register(nn.AvgPool1d)
def avg_pool_backward(w: Writer, p: Pass, position: int, module: nn.AvgPool1d) -> None:
    """∂E/∂x_c[u] = Σ of ∂E/∂y_c[t]/m_t over the windows t that average u."""
    _through(w, position, module)
    w.para(
        M(
            "solve.pool.avg_backward",
            "Each window passes its gradient, divided by its divisor, to every value it "
            "averages; where windows overlap the shares add up:",
        )
    )
    names = _Names(w, p, position)
    delta = rows(p.layers[position].grad)
    g_in = w.entering_grad(p, position)
    spans = windows(w, position)
    divisors = _divisors(w, position, module)
    covering: dict[int, list[int]] = {}
    for t, window in enumerate(spans):
        for _, u in window:
            covering.setdefault(u, []).append(t)
    for row in range(len(p.samples)):
        for c in range(w.shape_in(position)[0]):
            for u in range(names.length):
                _routed(w, names, row, c, u, covering.get(u, []), delta, g_in, len(spans), divisors)


# ------------------------------------------------------------------------------- flatten


@FORWARD.register(nn.Flatten)
def flatten(w: Writer, p: Pass, position: int, module: nn.Flatten) -> None:
    """A renaming: the next layer reads the same values, channel by channel."""
    names = w.built.output_names[position]
    w.para(
        M(
            "solve.flatten",
            "A renaming, channel by channel: the next layer reads {names} as its inputs 1 … "
            "{count}.",
            names=Listing(names),
            count=len(names),
        )
    )


@BACKWARD.register(nn.Flatten)
def flatten_backward(w: Writer, p: Pass, position: int, module: nn.Flatten) -> None:
    """Nothing to compute: the gradients above are those of the values it renamed."""
    w.para(
        M(
            "solve.flatten_backward",
            "Layer {n} (Flatten) renames: the gradients above are those of the values it reads.",
            n=position + 1,
        )
    )
