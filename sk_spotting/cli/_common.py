"""Helpers shared by the subcommands: errors, estimator parameters, data, files.

Nothing here prints except :func:`echo`; each subcommand module holds one
``add_parser(subparsers)`` and one ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
import textwrap
from pathlib import Path

from .._files import atomic_write
from ..training._distributed import is_main_process

__all__ = [
    "EXIT_OK",
    "EXIT_ERROR",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
    "CommandError",
    "UsageError",
    "echo",
    "parse_value",
    "parse_assignments",
    "parameter_docs",
    "estimator_parameters_epilog",
    "build_estimator",
    "parse_tolerances",
    "atomic_dump",
    "load_model",
    "load_data",
]

EXIT_OK = 0
EXIT_ERROR = 1  # the command ran and failed (bad data, missing file, ...)
EXIT_USAGE = 2  # the command line itself is wrong (argparse uses 2 too)
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM (128 + SIGINT), checkpoints kept


class CommandError(Exception):
    """A failure to report as one line, with an exit code.

    Parameters
    ----------
    message : str
        What went wrong and, where possible, what to do.
    code : int, default=1
        Process exit code.

    Examples
    --------
    >>> CommandError("no such file", code=1).code
    1
    """

    def __init__(self, message, code=EXIT_ERROR):
        super().__init__(message)
        self.code = code


class UsageError(CommandError):
    """A wrong command line (exit code 2).

    Examples
    --------
    >>> UsageError("bad --set").code
    2
    """

    def __init__(self, message):
        super().__init__(message, code=EXIT_USAGE)


def echo(*parts, file=None):
    """Print a line to stdout (or ``file``) and flush, for pipes and tests.

    In a run of several processes started by ``torchrun``, only rank 0
    prints.
    """
    if is_main_process():
        print(*parts, file=file or sys.stdout, flush=True)


# --------------------------------------------------------------------------
# estimator parameters
# --------------------------------------------------------------------------


def parse_value(text):
    """A ``--set`` value: JSON when it parses, else the string itself.

    Parameters
    ----------
    text : str
        The text after ``=``.

    Returns
    -------
    value : object
        ``"20"`` gives 20, ``"1e-3"`` 0.001, ``"null"`` None, ``"true"``
        True, ``'{"Goal": 4}'`` a dict; ``"unet"`` stays ``"unet"``.

    Examples
    --------
    >>> from sk_spotting.cli._common import parse_value
    >>> parse_value("20"), parse_value("1e-3"), parse_value("null")
    (20, 0.001, None)
    >>> parse_value("unet"), parse_value("[1, 2]")
    ('unet', [1, 2])
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_assignments(assignments):
    """``["key=value", ...]`` to a dict, values through :func:`parse_value`.

    Parameters
    ----------
    assignments : list of str
        Repeated ``--set`` arguments.

    Returns
    -------
    params : dict

    Examples
    --------
    >>> from sk_spotting.cli._common import parse_assignments
    >>> parse_assignments(["epochs=3", "trunk=transformer"])
    {'epochs': 3, 'trunk': 'transformer'}
    """
    params = {}
    for item in assignments or ():
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set expects KEY=VALUE, got {item!r}.")
        params[key] = parse_value(value)
    return params


def _docstring_section(doc, title):
    """Lines of a numpydoc section (dedented), or [] when absent."""
    lines = inspect.cleandoc(doc or "").splitlines()
    for i in range(len(lines) - 1):
        if lines[i].strip() == title and set(lines[i + 1].strip()) == {"-"}:
            body = []
            for line in lines[i + 2 :]:
                if body and re.fullmatch(r"-{3,}", line.strip()):
                    body.pop()  # the next section's title
                    break
                body.append(line)
            return body
    return []


def parameter_docs(estimator_class):
    """The Parameters section of a class docstring as ``{name: (type, text)}``.

    A small numpydoc reader: an entry starts at column 0 as ``name : type``
    (``a, b : type`` documents several names); its description is the
    indented lines below, joined into one paragraph.

    Parameters
    ----------
    estimator_class : type
        A class with a numpydoc docstring.

    Returns
    -------
    docs : dict of str to tuple of (str, str)
        Type line and description of each documented parameter.

    Examples
    --------
    >>> from sk_spotting import DenseAnchorSpotter
    >>> from sk_spotting.cli._common import parameter_docs
    >>> kind, text = parameter_docs(DenseAnchorSpotter)["epochs"]
    >>> kind
    'int, default=1000'
    >>> text
    'Training epochs of each network.'
    """
    docs, names, kind, text = {}, [], "", []

    def flush():
        for name in names:
            docs[name] = (kind, " ".join(text))

    for line in _docstring_section(estimator_class.__doc__, "Parameters"):
        if line and not line[0].isspace():
            flush()
            head, _, kind = line.partition(" : ")
            names = [n.strip() for n in head.split(",") if n.strip()]
            kind, text = kind.strip(), []
        elif line.strip():
            text.append(line.strip())
    flush()
    return docs


def estimator_parameters_epilog(estimator_class, width=79):
    """Help text listing every constructor parameter with its documentation.

    Parameters
    ----------
    estimator_class : type
        The estimator class.
    width : int, default=79
        Line width.

    Returns
    -------
    text : str

    Examples
    --------
    >>> from sk_spotting import DenseAnchorSpotter
    >>> from sk_spotting.cli._common import estimator_parameters_epilog
    >>> text = estimator_parameters_epilog(DenseAnchorSpotter)
    >>> "  epochs  (int, default=1000)" in text
    True
    """
    docs = parameter_docs(estimator_class)
    lines = textwrap.wrap(
        f"{estimator_class.__name__} parameters, in the order of its signature "
        f"(--set KEY=VALUE, or a --config JSON object; values are read as JSON "
        f"when they parse, else as text):",
        width,
    )
    for name in inspect.signature(estimator_class).parameters:
        kind, text = docs.get(name, ("", "(undocumented)"))
        text = text.replace("``", "`")
        lines.append(f"  {name}  ({kind})" if kind else f"  {name}")
        lines += textwrap.wrap(
            text, width, initial_indent=" " * 6, subsequent_indent=" " * 6
        )
    return "\n".join(lines)


def _read_config(path):
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"--config file {str(path)!r} does not exist.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"--config file {str(path)!r} is not JSON: {exc}") from None
    if not isinstance(config, dict):
        raise UsageError(
            f"--config file {str(path)!r} must hold a JSON object of estimator "
            f"parameters, got {type(config).__name__}."
        )
    return config


def build_estimator(estimator_class, *, config=None, assignments=(), defaults=None):
    """An estimator from ``defaults``, then a JSON config file, then ``--set``.

    Every key is checked against ``get_params`` and every value through
    ``set_params`` and the estimator's own parameter validation, so that a
    typo or a bad value fails before any data is read.

    Parameters
    ----------
    estimator_class : type
        Estimator to build.
    config : str or path-like, default=None
        JSON file holding an object of parameters.
    assignments : list of str, default=()
        ``KEY=VALUE`` strings, applied after ``config``.
    defaults : dict, default=None
        Parameters applied first (the command's own defaults).

    Returns
    -------
    estimator : estimator_class instance
    explicit : set of str
        Names set by ``config`` or ``assignments``.

    Examples
    --------
    >>> from sk_spotting import DenseAnchorSpotter
    >>> from sk_spotting.cli._common import build_estimator
    >>> spotter, explicit = build_estimator(DenseAnchorSpotter,
    ...                                     assignments=["epochs=5"])
    >>> spotter.epochs, sorted(explicit)
    (5, ['epochs'])
    """
    from sklearn.utils._param_validation import InvalidParameterError

    params = dict(defaults or {})
    explicit = {}
    if config is not None:
        explicit.update(_read_config(config))
    explicit.update(parse_assignments(assignments))
    params.update(explicit)
    estimator = estimator_class()
    valid = estimator.get_params(deep=False)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise UsageError(
            f"unknown estimator parameter(s) {unknown}; see --help for the "
            f"{len(valid)} parameters of {estimator_class.__name__}."
        )
    try:
        estimator.set_params(**params)
        estimator._validate_params()
    except (InvalidParameterError, ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from None
    return estimator, set(explicit)


def parse_tolerances(text):
    """``loose``, ``tight`` or comma-separated seconds (``1,2,3``).

    Parameters
    ----------
    text : str
        The ``--tolerances`` argument.

    Returns
    -------
    tolerances : str or list of float

    Examples
    --------
    >>> from sk_spotting.cli._common import parse_tolerances
    >>> parse_tolerances("tight"), parse_tolerances("1,2.5")
    ('tight', [1.0, 2.5])
    """
    if text in ("loose", "tight"):
        return text
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if not values or any(not (v > 0 and v < float("inf")) for v in values):
        raise argparse.ArgumentTypeError(
            f"expected 'loose', 'tight' or comma-separated positive seconds such "
            f"as 1,2,3; got {text!r}"
        )
    return values


# --------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------


def atomic_dump(obj, path):
    """Pickle ``obj`` with joblib to ``path`` through a temporary file.

    The file appears complete or not at all: it is written next to ``path``
    and moved over it with :func:`os.replace`.

    Parameters
    ----------
    obj : object
        What to save.
    path : str or path-like
        Destination; its folder is created.

    Returns
    -------
    path : pathlib.Path

    Examples
    --------
    >>> import tempfile, joblib
    >>> from pathlib import Path
    >>> from sk_spotting.cli._common import atomic_dump
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = atomic_dump({"a": 1}, Path(tmp) / "model.joblib")
    ...     joblib.load(path)
    {'a': 1}
    """
    import joblib

    return atomic_write(path, lambda stream: joblib.dump(obj, stream))


def load_model(path):
    """Load a fitted spotter saved by ``sk-spotting fit``.

    Parameters
    ----------
    path : str or path-like
        A joblib file.

    Returns
    -------
    model : estimator
        It has ``predict_scores`` and ``classes_``.

    Examples
    --------
    >>> from sk_spotting.cli._common import load_model
    >>> load_model("no/such/model.joblib")
    Traceback (most recent call last):
    ...
    sk_spotting.cli._common.CommandError: model file 'no/such/model.joblib' does not exist.
    """  # noqa: E501
    import joblib

    path = Path(path)
    if not path.is_file():
        raise CommandError(f"model file {str(path)!r} does not exist.")
    try:
        model = joblib.load(path)
    except Exception as exc:  # unpickling can raise nearly anything
        raise CommandError(
            f"cannot load model {str(path)!r}: {type(exc).__name__}: {exc}"
        ) from None
    if not hasattr(model, "predict") or not hasattr(model, "classes_"):
        raise CommandError(
            f"{str(path)!r} does not hold a fitted spotter (got "
            f"{type(model).__name__})."
        )
    return model


def load_data(root, *, split=None, features, frame_rate, classes=None):
    """Videos, events and meta of the games under ``root``.

    Parameters
    ----------
    root : str or path-like
        SoccerNet-style data root.
    split : str, default=None
        Official split whose games to load; None loads every game found.
    features : str
        Feature file stem.
    frame_rate : float
        Frames per second of the features.
    classes : sequence of str, default=None
        Allowed labels.

    Returns
    -------
    X, y, meta
        As :func:`sk_spotting.datasets.load_soccernet`.
    """
    from ..datasets import load_soccernet

    return load_soccernet(
        root, split=split, features=features, frame_rate=frame_rate, classes=classes
    )


def default_classes(*tables):
    """SoccerNet-v2's 17 classes when every label is one of them, else None.

    Parameters
    ----------
    *tables : list of pandas.DataFrame
        Event tables.

    Returns
    -------
    classes : list of str or None

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_spotting.cli._common import default_classes
    >>> len(default_classes([pd.DataFrame({"time": [1.0], "label": ["Goal"]})]))
    17
    >>> default_classes([pd.DataFrame({"time": [1.0], "label": ["Dunk"]})])
    """
    from ..datasets import SOCCERNET_V2_CLASSES

    seen = {label for group in tables for table in group for label in table["label"]}
    return list(SOCCERNET_V2_CLASSES) if seen <= set(SOCCERNET_V2_CLASSES) else None
