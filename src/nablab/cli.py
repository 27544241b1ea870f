"""The ``nablab`` command. Thin: it parses arguments and calls the library."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from nablab.solve.commands import CHECK_HELP, SCHEMA_HELP
    from nablab.solve.render import FORMATS

    parser = argparse.ArgumentParser(
        prog="nablab", description="A lab for how neural networks learn."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("demo", help="run the built-in demonstration")

    solve = commands.add_parser(
        "solve", help="write the step-by-step solution of an exercise file",
        epilog=SCHEMA_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    solve.add_argument("exercise", help="the exercise file (YAML)")
    solve.add_argument("--format", choices=FORMATS, default="text")
    solve.add_argument("--out", help="write to this file (atomically) instead of the terminal")
    solve.add_argument("--explain", nargs="+", default=[], metavar="NAME",
                       help="expand these parameters' gradients by the chain rule")

    check = commands.add_parser(
        "check", help="check a hand computation against the exact solution",
        epilog=CHECK_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("exercise", help="the exercise file (YAML)")
    check.add_argument("answers", help="the student's answers (YAML: name: number)")
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument("--rtol", type=float, default=1e-3,
                       help="relative slack for rounding carried through steps (default 1e-3)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from nablab.demo import run

        return run()
    if args.command == "solve":
        from nablab.solve.commands import solve_command

        return solve_command(args.exercise, args.format, args.out, args.explain)
    if args.command == "check":
        from nablab.solve.commands import check_command

        return check_command(args.exercise, args.answers, args.format, args.rtol)
    return 2  # unreachable: argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
