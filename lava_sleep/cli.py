"""The ``lava-sleep`` command line.

Each sub-command lives in :mod:`lava_sleep.commands` as a module (named like the command, "-"
as "_") with ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. User errors (see
:class:`lava_sleep.errors.UserError`) print one line on stderr and exit with 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lava_sleep import __version__
from lava_sleep.errors import UserError

COMMANDS = ("demo", "train", "eval", "sweep", "normalization-study", "onchip-study", "quant", "continual",
            "plot", "bench", "export")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage + message otherwise)
        sys.stderr.write(f"lava-sleep: error: {message}\n")
        raise SystemExit(2)


def _module_name(name: str) -> str:
    """The module of a command: ``lava_sleep.commands.<name>`` with "-" as "_"."""
    return f"lava_sleep.commands.{name.replace('-', '_')}"


def _command_module(name: str):
    return importlib.import_module(_module_name(name))


def build_parser(available: dict) -> argparse.ArgumentParser:
    parser = _Parser(prog="lava-sleep", description="Sleep-regularized STDP in recurrent SNNs.")
    parser.add_argument("--version", action="version", version=f"lava-sleep {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, mod in available.items():
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
    return parser


def main(argv=None) -> int:
    available = {}
    for name in COMMANDS:
        try:
            available[name] = _command_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != _module_name(name):
                raise
    parser = build_parser(available)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(available[args.command].run(args) or 0)
    except UserError as exc:
        sys.stderr.write(f"lava-sleep {args.command}: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"lava-sleep {args.command}: interrupted; finished results are kept\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
