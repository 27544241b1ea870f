"""What ``nablab sweep``, ``nablab sweep show`` and ``nablab compare`` do, given their parsed
arguments: check, run, print, write. The work itself is in :mod:`nablab.sweep.runner`,
:mod:`nablab.sweep.results` and :mod:`nablab.sweep.compare`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from nablab._io import write_atomic
from nablab.sweep.backends import BackendError
from nablab.sweep.compare import FINAL_METRICS, CompareError, comparison, read_runs
from nablab.sweep.results import SweepResults, format_value, load_results
from nablab.sweep.spec import SweepError, load_sweep
from nablab.sweep.store import DATABASE, StoreError


def _error(command: str, error: Exception | str) -> int:
    print(f"nablab {command}: error: {error}", file=sys.stderr)
    return 2


def _console(stderr: bool = False):
    from rich.console import Console

    console = Console(stderr=stderr)
    if not console.is_terminal:  # a pipe or a file: do not squeeze the table into 80 columns
        console = Console(stderr=stderr, width=200)
    return console


def _float(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def summary_table(results: SweepResults, title: str | None = None):
    """The rich table of a sweep: one row per point, best first, the sweep's metric as
    mean ± std over seeds, the other metrics' means, finished and failed trials."""
    from rich.table import Table

    metric = results.metric
    others = [m for m in results.metric_names if m != metric]
    arrow = "↑" if results.direction == "maximize" else "↓"
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    for axis in results.axes:
        table.add_column(axis)
    table.add_column(f"{metric} {arrow} (mean ± std)", justify="right", style="bold")
    for name in others:
        table.add_column(name, justify="right")
    table.add_column("done", justify="right")
    table.add_column("failed", justify="right")
    for rank, row in enumerate(results.summary(), start=1):
        mean, std = row[f"{metric}_mean"], row[f"{metric}_std"]
        shown = _float(mean) + ("" if std is None else f" ± {_float(std)}")
        table.add_row(
            str(rank),
            *(format_value(row[axis]) for axis in results.axes),
            shown or "—",
            *(_float(row[f"{name}_mean"]) for name in others),
            f"{row['n']}/{row['seeds']}",
            str(row["failed"]) if row["failed"] else "",
        )
    return table


def _failures(results: SweepResults, limit: int = 5) -> list[str]:
    failed = [t for t in results.trials if t["status"] == "failed"]
    lines = []
    for trial in failed[:limit]:
        where = [f"{k}={format_value(v)}" for k, v in trial["values"].items()]
        where.append(f"seed={trial['seed']}")
        lines.append(f"trial {trial['number']} ({', '.join(where)}): {trial['error']}")
    if len(failed) > limit:
        lines.append(f"... and {len(failed) - limit} more (nablab sweep show DIR --trials)")
    return lines


class _Bar:
    """One rich progress bar for the sweep: trials done, running, failed, best so far."""

    def __init__(self, total: int, metric: str) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.metric = metric
        self.progress = Progress(
            TextColumn("[bold]sweep"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=_console(stderr=True),
        )
        self.task = self.progress.add_task("", total=total)

    def __enter__(self) -> _Bar:
        self.progress.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.progress.stop()

    def __call__(self, state) -> None:
        best = "" if state.best is None else f" · best {self.metric} {state.best:.4f}"
        skipped = f" ({state.skipped} from before)" if state.skipped else ""
        text = f"done {state.done}{skipped} · running {state.active} · failed {state.failed}{best}"
        self.progress.update(self.task, completed=state.done + state.failed, description=text)


def sweep_command(
    path: str,
    out: str,
    backend: str | None = None,
    address: str | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> int:
    """Run or resume the sweep ``path`` into ``out``; print its table, write its figures.
    Exit code 0, 1 when some trial failed, 2 for a bad file, flag or folder."""
    from nablab.sweep.figures import write_figures
    from nablab.sweep.runner import run_sweep

    try:
        sweep = load_sweep(path)
        if backend is not None:
            from nablab.sweep.backends import BACKENDS

            if backend not in BACKENDS:
                raise BackendError(BACKENDS.unknown_message(backend))
        bar = _Bar(sweep.n_trials(), sweep.metric_name) if progress else None
        try:
            if bar is not None:
                bar.__enter__()
            results = run_sweep(sweep, out, backend, address, workers, on_progress=bar)
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
        write_atomic(Path(out) / "sweep.yaml", Path(path).read_text(encoding="utf-8"))
    except (SweepError, StoreError, BackendError) as error:
        return _error("sweep", error)
    except KeyboardInterrupt:
        print(
            f"nablab sweep: interrupted; run the same command again to resume from {out}",
            file=sys.stderr,
        )
        return 130
    written = write_figures(results)
    _console().print(summary_table(results, sweep.title))
    for line in _failures(results):
        print(f"failed: {line}")
    files = [DATABASE, "sweep.yaml", *(p.name for p in written)]
    print(f"wrote {out}/: {' '.join(files)}")
    return 1 if any(t["status"] == "failed" for t in results.trials) else 0


def show_command(folder: str, csv: str | None = None, trials: bool = False) -> int:
    """Print a sweep folder's table (or each trial), or write it as CSV (``csv="-"``: to the
    terminal)."""
    try:
        results = load_results(folder)
    except StoreError as error:
        return _error("sweep show", error)
    if csv is not None:
        text = results.trials_csv() if trials else results.summary_csv()
        if csv == "-":
            sys.stdout.write(text)
            return 0
        try:
            write_atomic(csv, text)
        except OSError as error:
            return _error("sweep show", f"cannot write {csv}: {error}")
        print(f"wrote {csv}")
        return 0
    console = _console()
    if trials:
        console.print(_trials_table(results))
    else:
        console.print(summary_table(results, results.sweep.get("title")))
    counts = {s: sum(t["status"] == s for t in results.trials) for s in ("done", "failed")}
    total = len(results.trials)
    left = total - counts["done"] - counts["failed"]
    print(
        f"{total} trials: {counts['done']} done, {counts['failed']} failed"
        + (f", {left} not finished" if left else "")
    )
    for line in _failures(results):
        print(f"failed: {line}")
    return 0


def _trials_table(results: SweepResults):
    from rich.table import Table

    table = Table()
    for column in ("trial", *results.axes, "seed", "status", *results.metric_names, "seconds"):
        table.add_column(column, justify="left" if column in results.axes else "right")
    for record in results.records():
        table.add_row(
            str(record["number"]),
            *(format_value(record[axis]) for axis in results.axes),
            str(record["seed"]),
            record["status"],
            *(_float(record[m]) for m in results.metric_names),
            _float(record["seconds"], 2),
        )
    return table


def compare_command(folders: list[str], out: str = "compare.png") -> int:
    """Overlay the histories of run folders in one figure and print one table."""
    from rich.table import Table

    from nablab.viz import save
    from nablab.viz.sweep import histories_figure

    if len(folders) < 1:
        return _error("compare", "give at least one run folder")
    try:
        runs = read_runs(folders)
    except CompareError as error:
        return _error("compare", error)
    if not out.endswith((".png", ".svg")):
        return _error("compare", f"--out {out} must end in .png or .svg")
    columns, rows = comparison(runs)
    table = Table()
    for column in columns:
        numeric = column in FINAL_METRICS or column == "epochs"
        table.add_column(column, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(_cell(v, c in FINAL_METRICS) for c, v in zip(columns, row, strict=True)))
    _console().print(table)
    try:
        save(histories_figure([(run.label, run.history) for run in runs]), out)
    except OSError as error:
        return _error("compare", f"cannot write {out}: {error}")
    print(f"wrote {out}")
    return 0


def _cell(value: Any, metric: bool) -> str:
    if value is None:
        return ""
    return _float(value) if metric else format_value(value)
