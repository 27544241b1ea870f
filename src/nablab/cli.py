"""The ``nablab`` command. Thin: it parses arguments and calls the library.

Choices and help texts come from the registries (datasets, activations, initializers,
optimizers, schedules), so the command line cannot drift from the library. Building the parser
imports only those light modules; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys


class _Parser(argparse.ArgumentParser):
    """Bad flags get one line (what is wrong) and exit code 2, not the whole usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _widths(text: str) -> tuple[int, ...]:
    """``"64,64"`` → (64, 64); ``""`` → () (no hidden layer: logistic regression)."""
    try:
        widths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated sizes like 64,64, got {text!r}"
        ) from None
    if not text.strip():
        return ()
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive integers, got {text!r}")
    return widths


def _listing(registry, names=None) -> str:
    names = registry.names() if names is None else names
    return "; ".join(f"{n}: {registry.entry(n).summary}" for n in names)


def _model_flags(parser: argparse.ArgumentParser) -> None:
    from nablab.data.datasets import LOADERS
    from nablab.init import INITIALIZERS
    from nablab.nn.activations import ACTIVATIONS, hidden_activations
    from nablab.train.config import DTYPES

    parser.add_argument(
        "--data",
        default="digits",
        help=f"a built-in dataset ({', '.join(LOADERS.names())}) or a file (.npz with x and y, "
        ".csv with the label last, IDX images with --labels)",
    )
    parser.add_argument("--labels", help="the IDX labels file, when --data is IDX images")
    parser.add_argument(
        "--hidden",
        type=_widths,
        default=(64, 64),
        help='hidden sizes: 64,64 ("" for none: softmax logistic regression)',
    )
    parser.add_argument(
        "--activation",
        choices=hidden_activations(),
        default="relu",
        help=_listing(ACTIVATIONS, hidden_activations()),
    )
    parser.add_argument(
        "--init",
        choices=INITIALIZERS.names(aliases=True),
        default="he_normal",
        metavar="{" + ",".join(INITIALIZERS.names()) + "}",
        help=_listing(INITIALIZERS),
    )
    parser.add_argument("--batch-norm", action="store_true")
    parser.add_argument("--dropout", type=float, default=0.0, help="drop probability")
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--no-standardize", dest="standardize", action="store_false")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=DTYPES, default="float32")


def build_parser() -> argparse.ArgumentParser:
    from nablab import __version__
    from nablab.data.augment_spec import describe as augment_help
    from nablab.optim.registry import OPTIMIZERS, SCHEDULES, training_names
    from nablab.solve.schema_help import CHECK_HELP, FORMATS, schema_help

    parser = _Parser(prog="nablab", description="A lab for how neural networks learn.")
    parser.add_argument("--version", action="version", version=f"nablab {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("demo", help="run the built-in demonstration")

    solve = commands.add_parser(
        "solve",
        help="write the step-by-step solution of an exercise file",
        epilog=schema_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    solve.add_argument("exercise", help="the exercise file (YAML)")
    solve.add_argument("--format", choices=FORMATS, default="text")
    solve.add_argument("--out", help="write to this file (atomically) instead of the terminal")
    solve.add_argument(
        "--explain",
        nargs="+",
        default=[],
        metavar="NAME",
        help="expand these parameters' gradients by the chain rule",
    )

    check = commands.add_parser(
        "check",
        help="check a hand computation against the exact solution",
        epilog=CHECK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("exercise", help="the exercise file (YAML)")
    check.add_argument("answers", help="the student's answers (YAML: name: number)")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument(
        "--rtol",
        type=float,
        default=1e-3,
        help="relative slack for rounding carried through steps (default 1e-3)",
    )

    train = commands.add_parser("train", help="train an MLP classifier and write its run folder")
    _model_flags(train)
    train.add_argument(
        "--optimizer",
        choices=training_names(),
        default="adam",
        help=_listing(OPTIMIZERS, training_names()),
    )
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument(
        "--momentum", type=float, default=0.9, help="for --optimizer momentum / nesterov"
    )
    train.add_argument(
        "--weight-decay", type=float, default=0.0, help="coupled L2 (decoupled with adamw)"
    )
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument(
        "--schedule", choices=SCHEDULES.names(), default="none", help=_listing(SCHEDULES)
    )
    train.add_argument("--patience", type=int, help="early stopping on the validation loss")
    train.add_argument(
        "--augment",
        metavar="K=V,...",
        help=f"augment training images, e.g. shift=1,rotation=10; {augment_help()}",
    )
    train.add_argument("--out", help="run folder: history.csv, metrics.json, plots, checkpoint")
    train.add_argument("--resume", action="store_true", help="continue from --out's checkpoint")
    train.add_argument("--quiet", dest="progress", action="store_false", help="no progress bar")
    train.add_argument("--no-diagnostics", dest="diagnostics", action="store_false")

    summary = commands.add_parser(
        "summary", help="per-layer parameter table of the model that `nablab train` would build"
    )
    _model_flags(summary)

    lab = commands.add_parser("lab", help="lecture claims as experiments: list, show, run")
    lab_commands = lab.add_subparsers(dest="lab_command", metavar="ACTION")
    show = lab_commands.add_parser("show", help="an experiment's claim and parameters")
    show.add_argument("name")
    run = lab_commands.add_parser("run", help="run experiments; write figures and reports")
    run.add_argument("name", nargs="?", help="the experiment (see `nablab lab`)")
    run.add_argument("--all", dest="run_all", action="store_true", help="every experiment")
    run.add_argument("--quick", action="store_true", help="the short version (seconds)")
    run.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="K=V",
        help="a parameter (repeatable); lists comma-separated",
    )
    run.add_argument(
        "--out",
        help="folder for figure.png/svg, result.json, report.html "
        "(with --all: notebook.html and a folder per experiment)",
    )
    return parser


def _config(args: argparse.Namespace):
    from nablab.train.config import TrainConfig

    names = TrainConfig.field_names()
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in names})


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "demo":
        from nablab.demo import run

        return run()
    if args.command == "solve":
        from nablab.solve.commands import solve_command

        return solve_command(args.exercise, args.format, args.out, args.explain)
    if args.command == "train":
        from nablab.train.command import train_command

        return train_command(_config(args), args.out, args.resume, args.progress)
    if args.command == "summary":
        from nablab.train.command import summary_command

        return summary_command(_config(args))
    if args.command == "lab":
        from nablab.lab import command as lab

        if args.lab_command == "show":
            return lab.show_command(args.name)
        if args.lab_command == "run":
            return lab.run_command(args.name, args.run_all, args.quick, args.settings, args.out)
        return lab.list_command()
    if args.command == "check":
        from nablab.solve.commands import check_command

        return check_command(args.exercise, args.answers, args.format, args.rtol)
    return 2  # unreachable: argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
