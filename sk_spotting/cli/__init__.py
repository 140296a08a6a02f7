"""The ``sk-spotting`` command line: demo, fit, predict, evaluate, report, tune(-nms).

Each subcommand lives in its own module with an ``add_parser`` and a ``run``;
:func:`main` parses, dispatches and turns failures into one-line messages and
exit codes:

====  ==========================================================
code  meaning
====  ==========================================================
0     success
1     the command failed (missing file, bad data, ...)
2     the command line is wrong (unknown option or parameter, bad value)
130   interrupted (Ctrl-C or SIGTERM); ``fit --resume`` continues
141   the reader of the output went away (``... | head``), silently
====  ==========================================================

``--debug`` shows the full traceback instead of the one-line message.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import traceback
import warnings

from .. import __version__
from . import _common, _demo, _evaluate, _fit, _predict, _report, _tune, _tune_nms

__all__ = ["main"]

_COMMANDS = (_demo, _fit, _predict, _evaluate, _report, _tune, _tune_nms)


class _Parser(argparse.ArgumentParser):
    """argparse, except that help and usage written to a closed pipe fail.

    argparse swallows the ``OSError`` of writing ``--help`` to a pipe whose
    reader is gone, so ``sk-spotting fit --help | head`` would exit 0 on a
    broken pipe; here it propagates and ends as exit code 141 like any other
    output.
    """

    def _print_message(self, message, file=None):
        if message:
            (file or sys.stderr).write(message)


def build_parser():
    """The argument parser of ``sk-spotting`` with every subcommand.

    Returns
    -------
    parser : argparse.ArgumentParser

    Examples
    --------
    >>> from sk_spotting.cli import build_parser
    >>> args = build_parser().parse_args(["evaluate", "data", "results"])
    >>> args.command, args.tolerances
    ('evaluate', 'loose')
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an error instead of one line",
    )
    parser = _Parser(
        prog="sk-spotting",
        description=(
            "Temporally precise action spotting (dense detection anchors, "
            "Soares et al. ICIP 2022) from the command line."
        ),
        epilog="Run 'sk-spotting COMMAND --help' for the options of a command.",
    )
    parser.add_argument(
        "--version", action="version", version=f"sk-spotting {__version__}"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _COMMANDS:
        if getattr(module, "AVAILABLE", True):
            module.add_parser(subparsers, [common])
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def _signals_interrupt():
    """Turn SIGINT and SIGTERM into KeyboardInterrupt so both end a command cleanly.

    SIGINT is set explicitly too: a process started in the background by a
    non-interactive shell inherits SIGINT as ignored, and Ctrl-C or ``kill
    -INT`` must still stop a fit at its last checkpoint.
    """
    try:
        previous = {
            signum: signal.signal(signum, _raise_interrupt)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv=None):
    """Run ``sk-spotting`` with ``argv`` (default ``sys.argv[1:]``).

    Parameters
    ----------
    argv : list of str, default=None
        Command-line arguments without the program name.

    Returns
    -------
    code : int
        Exit code: 0 success, 1 failure, 2 usage error, 130 interrupted,
        141 the reader of stdout closed it (as in ``... | head``).

    Examples
    --------
    >>> from sk_spotting.cli import main
    >>> main(["evaluate", "--tolerances", "soon", "data", "results"])
    2
    """
    try:
        code = _main(argv)
        sys.stdout.flush()  # a pipe closed early fails here, not at exit
        return code
    except BrokenPipeError:
        # ``sk-spotting evaluate --json | head``: the reader has what it
        # wanted.  Send what is still buffered to nowhere, so that Python's
        # final flush of stdout does not print a BrokenPipeError either.
        _silence_stdout()
        return _common.EXIT_BROKEN_PIPE


def _silence_stdout():
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (tests)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _main(argv):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version or a usage error
        return exc.code if isinstance(exc.code, int) else _common.EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return _common.EXIT_USAGE
    prefix = f"sk-spotting {args.command}"
    with warnings.catch_warnings(), _signals_interrupt():
        warnings.showwarning = _one_line_warning
        try:
            return int(args.run(args) or 0)
        except KeyboardInterrupt:
            if args.debug:
                raise
            message = getattr(args, "interrupt_message", "")
            if callable(message):  # what is true at the moment of the interrupt
                message = message()
            print(f"{prefix}: interrupted. {message}".rstrip(), file=sys.stderr)
            return _common.EXIT_INTERRUPTED
        except BrokenPipeError:
            raise
        except Exception as exc:  # every failure becomes one line
            if args.debug:
                traceback.print_exc()
                return getattr(exc, "code", _common.EXIT_ERROR)
            if isinstance(exc, _common.CommandError):
                print(f"{prefix}: error: {exc}", file=sys.stderr)
                return exc.code
            text = str(exc).strip().splitlines()
            text = text[0] if text else ""
            print(
                f"{prefix}: error: {type(exc).__name__}: {text} "
                f"(--debug shows the traceback)",
                file=sys.stderr,
            )
            return _common.EXIT_ERROR
