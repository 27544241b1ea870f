"""What ``nablab lab``, ``nablab lab show`` and ``nablab lab run`` do."""

from __future__ import annotations

import sys
from pathlib import Path

from nablab.lab.experiment import (
    EXPERIMENTS,
    TOPICS,
    Experiment,
    ExperimentError,
    Result,
    ordered,
)
from nablab.lab.params import format_value, parse_settings
from nablab.registry import UnknownNameError


def _error(message: object) -> int:
    print(f"nablab lab: error: {message}", file=sys.stderr)
    return 2


def list_command() -> int:
    """The experiments by topic, each with its claim."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    for key, title in TOPICS.items():
        console.print(f"[bold]{title}[/bold]")
        for spec in ordered():
            if spec.topic == key:
                console.print(f"  [bold]{spec.name}[/bold]: {escape(spec.claim)}")
        console.print()
    console.print("nablab lab show NAME  ·  nablab lab run NAME [--quick] [--set k=v] [--out DIR]")
    return 0


def show_command(name: str) -> int:
    """The claim, the source and every parameter with its default and limits."""
    try:
        spec = EXPERIMENTS[name]
    except UnknownNameError as error:
        return _error(error)
    print(f"{spec.name} ({TOPICS[spec.topic]})\n\nclaim: {spec.claim}")
    if spec.source:
        print(f"source: {spec.source}")
        if spec.source[:3].isdigit():
            print("  (000–004: the five solution sets of the course the lab's claims come from)")
    print("\nparameters (--set name=value; lists comma-separated):")
    for option in spec.parameters:
        quick = spec.quick.get(option.name)
        extra = f" (quick: {format_value(quick)})" if quick is not None else ""
        print(f"  {option.describe()}{extra}")
    return 0


def _run_one(spec: Experiment, quick: bool, settings: list[str], console) -> Result:
    params = parse_settings(spec, settings)
    spec.resolve(params, quick)  # bad values fail before any work
    with console.status(f"running {spec.name}{' (quick)' if quick else ''} …"):
        return spec.run(quick, **params)


def _summary(result: Result, console) -> None:
    from rich.markup import escape  # claims hold brackets such as E[x²]

    style = "green" if result.holds else "yellow"
    console.print(
        f"[bold]{result.experiment}[/bold]: [{style}]{result.verdict_text()}[/{style}] "
        f"({result.timings['seconds']:.1f} s)"
    )
    for check in result.checks:
        console.print(f"  {escape(check.line())}")


def run_command(
    name: str | None, run_all: bool, quick: bool, settings: list[str], out: str | None
) -> int:
    from rich.console import Console

    from nablab.lab.report import write_notebook, write_result

    console = Console(highlight=False, stderr=False)
    if run_all == (name is not None):
        return _error("give one experiment NAME or --all")
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        return _error(f"--out {out} is a file; give a folder")
    try:
        if not run_all:
            result = _run_one(EXPERIMENTS[name], quick, settings, console)
            _summary(result, console)
            if out is not None:
                written = write_result(result, out)
                console.print(f"wrote {out}/: " + " ".join(path.name for path in written))
            return 0
        if settings:
            return _error("--set applies to one experiment; run it by name")
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        results = []
        specs = ordered()
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("lab", total=len(specs))
            for spec in specs:
                progress.update(task, description=f"running {spec.name}")
                results.append(spec.run(quick))
                progress.advance(task)
        for result in results:
            _summary(result, console)
        if out is not None:
            for result in results:
                write_result(result, Path(out) / result.experiment)
            write_notebook(results, TOPICS, out)
            console.print(f"wrote {out}/notebook.html and one folder per experiment")
        return 0
    except (ExperimentError, UnknownNameError) as error:
        return _error(error)
