"""The ``nablab`` command. Thin: it parses arguments and calls the library.

Choices and help texts come from the registries (datasets, activations, initializers,
optimizers, schedules), so the command line cannot drift from the library. Building the parser
imports only those light modules; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys


class _Parser(argparse.ArgumentParser):
    """Bad flags get one line (what is wrong) and exit code 2, not the whole usage; flags are
    never abbreviated (``--l`` is not ``--lr``)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

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
        raise argparse.ArgumentTypeError(f"sizes must be positive integers, got {text!r}")
    return widths


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _listing(registry, names=None) -> str:
    names = registry.names() if names is None else names
    return "; ".join(f"{n}: {registry.entry(n).summary}" for n in names)


def _model_flags(parser: argparse.ArgumentParser) -> None:
    from nablab.data.datasets import LOADERS
    from nablab.init import INITIALIZERS
    from nablab.nn.activations import ACTIVATIONS, hidden_activations
    from nablab.train.config import DTYPES, TrainConfig
    from nablab.train.models import MODELS

    defaults = TrainConfig()

    def reader(field: str) -> str:
        """``(cnn)``: the models whose size this field sets, from the model registry."""
        owners = [e.name for e in MODELS.entries() if field in e.extra["fields"]]
        return f"({', '.join(owners)})"

    parser.add_argument(
        "--data",
        default="digits",
        help=f"a built-in dataset ({', '.join(LOADERS.names())}) or a file (.npz with x and y, "
        ".csv with the label last, IDX images with --labels)",
    )
    parser.add_argument("--labels", help="the IDX labels file, when --data is IDX images")
    parser.add_argument(
        "--model", choices=MODELS.names(), default=defaults.model, help=_listing(MODELS)
    )
    parser.add_argument(
        "--hidden",
        type=_widths,
        default=defaults.hidden,
        help=f"{reader('hidden')} hidden widths, default "
        + ",".join(map(str, defaults.hidden))
        + ' ("" for none: softmax logistic regression)',
    )
    parser.add_argument(
        "--channels",
        type=_widths,
        default=defaults.channels,
        help=f"{reader('channels')} output channels of each convolution, default "
        + ",".join(map(str, defaults.channels)),
    )
    parser.add_argument(
        "--kernel-size",
        type=int,
        default=defaults.kernel_size,
        help=f"{reader('kernel_size')} kernel size of every convolution (padding "
        f"kernel_size // 2), default {defaults.kernel_size}",
    )
    parser.add_argument(
        "--stride",
        type=int,
        default=defaults.stride,
        help=f"{reader('stride')} stride of every convolution, default {defaults.stride}",
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
    parser.add_argument(
        "--dropout",
        type=float,
        default=0.0,
        help="drop probability (of units; of whole channels in a cnn)",
    )
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--no-standardize", dest="standardize", action="store_false")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=DTYPES, default="float32")


def _language_flags(parser: argparse.ArgumentParser) -> None:
    from nablab.i18n import DIGIT_STYLES, LANGUAGES

    parser.add_argument(
        "--lang",
        choices=LANGUAGES,
        default="en",
        help="the language of every sentence written (fa: Persian, right-to-left HTML)",
    )
    parser.add_argument(
        "--digits",
        choices=DIGIT_STYLES,
        default="latin",
        help="digits in prose (fa: Persian digits; formulas keep Latin digits)",
    )


def _course_commands(commands) -> None:
    """``nablab grade`` and ``nablab variants``."""
    variants = commands.add_parser(
        "variants",
        help="a different exercise for every student: sheets, answer keys, solutions, quizzes",
    )
    variants.add_argument(
        "exercise",
        help="the exercise file, with ranges such as weights: {random: [-1, 1], decimals: 2}",
    )
    who = variants.add_mutually_exclusive_group(required=True)
    who.add_argument("--students", metavar="ROSTER", help="a CSV roster (a student column)")
    who.add_argument("--n", type=int, help="this many students, named s01, s02, …")
    variants.add_argument("--seed", type=int, required=True, help="the sweep seed")
    variants.add_argument("--out", required=True, help="the folder to write")
    variants.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="KIND",
        help="accept this degeneracy instead of drawing again (dead_relu, zero_gradient, "
        "saturation, not_finite); repeatable",
    )
    variants.add_argument("--moodle", metavar="FILE", help="also write a Moodle XML quiz")
    variants.add_argument("--qti", metavar="FILE", help="also write a QTI 1.2 package (Canvas)")
    _language_flags(variants)

    grade = commands.add_parser(
        "grade", help="grade a class: every sheet in one run, a report per student"
    )
    grade.add_argument("exercise", help="the exercise file (with --roster: the variants' file)")
    grade.add_argument(
        "sheets", nargs="+", help="answer files, folders of them, or a CSV with a row per student"
    )
    grade.add_argument("--out", help="folder for grades.csv, grades.json and report.html")
    grade.add_argument(
        "--roster", help="grade each student against their own variant (with --seed)"
    )
    grade.add_argument("--seed", type=int, help="the seed the variants were drawn with")
    grade.add_argument(
        "--allow", action="append", default=[], metavar="KIND", help="as for `nablab variants`"
    )
    grade.add_argument(
        "--rtol", type=float, default=None, help="relative slack (default: the exercise's)"
    )
    grade.add_argument("--format", choices=("text", "json"), default="text")
    _language_flags(grade)


def build_parser() -> argparse.ArgumentParser:
    from nablab import __version__
    from nablab.data.augment_spec import describe as augment_help
    from nablab.optim.registry import OPTIMIZERS, SCHEDULES, training_names
    from nablab.solve.schema_help import CHECK_HELP, FORMATS, schema_help

    parser = _Parser(
        prog="nablab", description="A lab for how neural networks learn.", allow_abbrev=False
    )
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
    solve.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="default: from --out's extension (.html, .md, .json, .txt), else text",
    )
    solve.add_argument("--out", help="write to this file (atomically) instead of the terminal")
    solve.add_argument(
        "--explain",
        nargs="+",
        default=[],
        metavar="NAME",
        help="expand these gradients (parameters or forward values) by the chain rule",
    )
    solve.add_argument(
        "--verify",
        action="store_true",
        help="check every printed equation, both sides, against the engine",
    )
    solve.add_argument(
        "--names", action="store_true", help="list every name of the exercise, then stop"
    )
    solve.add_argument(
        "--compare-conventions",
        action="store_true",
        help="solve it under each convention a course might use and show where numbers part",
    )
    _language_flags(solve)

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
    _language_flags(check)
    _course_commands(commands)

    train = commands.add_parser(
        "train", help="train a classifier (MLP or CNN) and write its run folder"
    )
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
    _language_flags(train)

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
    _language_flags(run)
    _sweep_commands(commands)
    _prune_parser(commands)
    return parser


def _prune_parser(commands) -> None:
    from nablab.analysis.curvature import CURVATURES
    from nablab.prune.core import SCOPES
    from nablab.prune.criteria import CRITERIA, DEFAULT_DAMPING, DEFAULT_MAX_PARAMS
    from nablab.prune.schedule import SCHEDULES

    prune = commands.add_parser(
        "prune", help="prune a trained run (magnitude, sensitivity, OBD, OBS), retrain, write"
    )
    prune.add_argument("run_dir", metavar="RUN_DIR", help="a run folder from `nablab train --out`")
    prune.add_argument(
        "--method", choices=CRITERIA.names(), default="magnitude", help=_listing(CRITERIA)
    )
    prune.add_argument(
        "--amount", type=float, default=0.5, help="fraction of weights (units) to prune, in [0, 1)"
    )
    prune.add_argument(
        "--structured", action="store_true", help="remove whole hidden units (weights and bias)"
    )
    prune.add_argument(
        "--scope", choices=SCOPES, default="global", help="rank across all layers or per layer"
    )
    prune.add_argument("--steps", type=int, default=1, help="prune in this many steps")
    prune.add_argument(
        "--schedule", choices=SCHEDULES.names(), default="linear", help=_listing(SCHEDULES)
    )
    prune.add_argument(
        "--retrain-epochs", type=int, default=0, help="epochs of retraining after each step"
    )
    prune.add_argument(
        "--curvature",
        choices=CURVATURES.names(),
        default="lecun",
        help="obd's diagonal: "
        + _listing(CURVATURES)
        + ". obs inverts the Hessian with exact, the Gauss–Newton matrix otherwise",
    )
    prune.add_argument(
        "--max-params",
        type=int,
        default=DEFAULT_MAX_PARAMS,
        help=f"obs refuses models with more parameters (default {DEFAULT_MAX_PARAMS})",
    )
    prune.add_argument(
        "--damping",
        type=float,
        default=DEFAULT_DAMPING,
        help=f"obs: λ/mean(diag H) added to H's diagonal (default {DEFAULT_DAMPING:g})",
    )
    prune.add_argument(
        "--prune-biases",
        dest="weights_only",
        action="store_false",
        help="score biases and normalization parameters too (unstructured)",
    )
    prune.add_argument("--seed", type=int, default=0, help="for --method random")
    prune.add_argument("--out", required=True, help="folder for the pruned run")


def _given(parser: argparse.ArgumentParser, command: str, argv: list[str]) -> set[str]:
    """The destinations of the flags written on the command line (not left at defaults)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    tokens = {token.split("=", 1)[0] for token in argv if token.startswith("-")}
    return {
        action.dest
        for action in sub.choices[command]._actions
        if tokens & set(action.option_strings)
    }


def _sweep_commands(commands) -> None:
    from nablab.sweep.backends import BACKENDS
    from nablab.sweep.help import sweep_help

    sweep = commands.add_parser(
        "sweep",
        help="run every trial of a sweep file (nablab sweep show DIR: its table)",
        epilog=sweep_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep.add_argument("file", help="the sweep file (YAML)")
    sweep.add_argument("--out", required=True, help="the sweep folder: sweep.db, figures")
    sweep.add_argument(
        "--backend", choices=BACKENDS.names(), help="default: the file's; " + _listing(BACKENDS)
    )
    sweep.add_argument("--address", help="the Ray cluster: HOST:PORT or auto")
    sweep.add_argument(
        "--workers", type=_positive, help="trials at once (local: default the machine's cores)"
    )
    sweep.add_argument("--quiet", dest="progress", action="store_false", help="no progress bar")

    # `nablab sweep show DIR` is parsed by this parser (main rewrites the first two words).
    show = commands.add_parser("sweep-show", prog="nablab sweep show")
    show.add_argument("folder", help="a sweep folder (nablab sweep --out)")
    show.add_argument(
        "--csv",
        nargs="?",
        const="-",
        metavar="FILE",
        help="write the table as CSV to FILE (no FILE: to the terminal)",
    )
    show.add_argument("--trials", action="store_true", help="one row per trial, not per point")

    compare = commands.add_parser(
        "compare", help="overlay the histories of run folders: one figure, one table"
    )
    compare.add_argument("runs", nargs="+", metavar="RUN_DIR", help="folders of nablab train --out")
    compare.add_argument(
        "--out", default="compare.png", help="the figure (.png or .svg; default compare.png)"
    )


def _config(args: argparse.Namespace):
    from nablab.train.config import TrainConfig

    names = TrainConfig.field_names()
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in names})


RAISE_ENV = "NABLAB_RAISE"  # set: an unexpected exception propagates (the test suite sets it)


def main(argv: list[str] | None = None) -> int:
    """Run one command. Bad input ends in one line on stderr and exit code 2; an unexpected
    exception is reported as a bug (exit code 70)."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:2] == ["sweep", "show"]:
        argv = ["sweep-show", *argv[2:]]
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from nablab.errors import NablabError
    from nablab.i18n import using

    try:
        with using(getattr(args, "lang", None), getattr(args, "digits", None)):
            return _dispatch(parser, args, argv)
    except NablabError as error:
        print(f"nablab {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nablab {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _reader_went_away()
    except Exception as error:
        if os.environ.get(RAISE_ENV):
            raise
        print(
            f"nablab {args.command}: internal error: {type(error).__name__}: {error}\n"
            "This is a bug in nablab, not in your input: please report it with the command "
            "you ran.",
            file=sys.stderr,
        )
        return 70


def _reader_went_away() -> int:
    """The reader of standard output closed it (``nablab sweep show ... | head``): stop
    quietly with exit code 1, as rich does when its console meets a closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit does not fail again
    except (OSError, ValueError):
        pass
    return 1


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> int:
    from nablab.errors import NablabError

    if args.command == "demo":
        from nablab.demo import run

        return run()
    if args.command == "solve":
        from nablab.solve.commands import solve_command

        return solve_command(
            args.exercise,
            args.format,
            args.out,
            args.explain,
            verify=args.verify,
            names=args.names,
            conventions=args.compare_conventions,
        )
    if args.command == "train":
        from nablab.train.command import train_command

        given = _given(parser, "train", argv)
        return train_command(_config(args), args.out, args.resume, args.progress, given)
    if args.command == "summary":
        from nablab.train.command import summary_command

        return summary_command(_config(args))
    if args.command == "prune":
        from nablab.prune.command import PruneSettings, prune_command

        names = {f for f in PruneSettings.__dataclass_fields__}
        settings = PruneSettings(**{k: v for k, v in vars(args).items() if k in names})
        return prune_command(args.run_dir, args.out, settings)
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
    if args.command == "grade":
        from nablab.solve.course import grade_command

        return grade_command(
            args.exercise,
            args.sheets,
            args.out,
            args.roster,
            args.seed,
            args.allow,
            args.rtol,
            args.format,
        )
    if args.command == "variants":
        from nablab.solve.course import variants_command
        from nablab.solve.variants import MAX_STUDENTS, numbered_students, read_roster

        if args.n is not None and not 1 <= args.n <= MAX_STUDENTS:
            raise NablabError(f"--n: expected 1 to {MAX_STUDENTS} students, got {args.n}")
        students = read_roster(args.students) if args.students else numbered_students(args.n)
        return variants_command(
            args.exercise, students, args.seed, args.out, args.allow, args.moodle, args.qti
        )
    if args.command == "sweep":
        from nablab.sweep.command import sweep_command

        return sweep_command(
            args.file, args.out, args.backend, args.address, args.workers, args.progress
        )
    if args.command == "sweep-show":
        from nablab.sweep.command import show_command

        return show_command(args.folder, args.csv, args.trials)
    if args.command == "compare":
        from nablab.sweep.command import compare_command

        return compare_command(args.runs, args.out)
    return 2  # unreachable: argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
