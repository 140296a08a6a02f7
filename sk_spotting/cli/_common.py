"""Helpers shared by the subcommands: errors, estimator parameters, data, files.

Nothing here prints except :func:`echo`; each subcommand module holds one
``add_parser(subparsers)`` and one ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
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
    "EXIT_BROKEN_PIPE",
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
    "check_output",
    "check_not_input",
    "data_inputs",
    "video_names",
    "plural",
    "load_data",
]

EXIT_OK = 0
EXIT_ERROR = 1  # the command ran and failed (bad data, missing file, ...)
EXIT_USAGE = 2  # the command line itself is wrong (argparse uses 2 too)
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM (128 + SIGINT), checkpoints kept
EXIT_BROKEN_PIPE = 141  # the reader of stdout went away (128 + SIGPIPE)


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


PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


def load_model(path, *, allow_pickle=False):
    """Load a fitted spotter saved by ``sk-spotting fit`` (:func:`~sk_spotting.save_spotter`).

    A pickle (e.g. a ``.joblib`` file) runs code when loaded, so it is
    refused unless ``allow_pickle`` is set, and then loaded with a warning.

    Parameters
    ----------
    path : str or path-like
        A model file from ``sk-spotting fit``.
    allow_pickle : bool, default=False
        Load a joblib pickle too (``--allow-pickle``): only for files you
        made or trust.

    Returns
    -------
    model : estimator
        It has ``predict`` and ``classes_``.

    Examples
    --------
    >>> from sk_spotting.cli._common import load_model
    >>> load_model("no/such/model.safetensors")
    Traceback (most recent call last):
    ...
    sk_spotting.cli._common.CommandError: model file 'no/such/model.safetensors' does not exist.
    """  # noqa: E501
    from .._persistence import describe_file, load_spotter

    path = Path(path)
    if not path.is_file():
        raise CommandError(f"model file {str(path)!r} does not exist.")
    with open(path, "rb") as f:
        kind = describe_file(f.read(9))
    if kind is None:
        try:
            return load_spotter(path)
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from None
    if not allow_pickle:
        raise CommandError(
            f"model file {str(path)!r} is {kind}, not a model saved by "
            f"'sk-spotting fit' or save_spotter. Loading a pickle runs any code "
            f"it holds; if you made this file or trust its source, pass "
            f"--allow-pickle."
        )
    echo(
        f"warning: loading the pickle {str(path)!r} (--allow-pickle): it can run "
        f"any code it holds.",
        file=sys.stderr,
    )
    import joblib

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


def check_output(path, *, option, kind, overwrite):
    """Refuse to replace anything at ``path`` unless ``--overwrite`` is given.

    Parameters
    ----------
    path : str or path-like
        An output of the command.
    option : str
        Its option, for messages (``"--out"``).
    kind : {"file", "folder"}
        What the command writes there.
    overwrite : bool
        ``--overwrite``: an existing file, or a non-empty folder, is replaced.

    Raises
    ------
    UsageError
        If ``path`` is of the other kind, or exists (a folder: holds files)
        without ``overwrite``.

    Examples
    --------
    >>> import tempfile
    >>> from sk_spotting.cli._common import check_output
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     check_output(tmp, option="--out", kind="folder", overwrite=False)
    >>> check_output(".", option="--out", kind="file", overwrite=True)
    Traceback (most recent call last):
    ...
    sk_spotting.cli._common.UsageError: --out '.' is a folder; give a file name.
    """
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        return
    if kind == "file":
        if path.is_dir():
            raise UsageError(f"{option} {str(path)!r} is a folder; give a file name.")
        if not overwrite:
            raise UsageError(
                f"{option} {str(path)!r} exists; pass --overwrite to replace it."
            )
        return
    if not path.is_dir():
        raise UsageError(f"{option} {str(path)!r} is a file, not a folder.")
    if not overwrite and any(path.iterdir()):
        raise UsageError(
            f"{option} {str(path)!r} is a folder that is not empty; pass "
            f"--overwrite to replace it whole."
        )


def check_model_output(path, *, option, overwrite):
    """Check a path the command will write a model to, in the safe format.

    Parameters
    ----------
    path : str or path-like
        The model file to write.
    option : str
        Its option, for messages (``"--out"``).
    overwrite : bool
        ``--overwrite``: an existing file is replaced.

    Raises
    ------
    UsageError
        If the name ends as a pickle (``.joblib``...), or :func:`check_output`
        refuses the path.

    Examples
    --------
    >>> from sk_spotting.cli._common import check_model_output
    >>> check_model_output("m.joblib", option="--out", overwrite=False)
    Traceback (most recent call last):
    ...
    sk_spotting.cli._common.UsageError: --out 'm.joblib': models are written in the safe format, not as a pickle; name the file e.g. 'm.safetensors'.
    """  # noqa: E501
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        safe = str(path.with_suffix(".safetensors"))
        raise UsageError(
            f"{option} {str(path)!r}: models are written in the safe format, not "
            f"as a pickle; name the file e.g. {safe!r}."
        )
    check_output(path, option=option, kind="file", overwrite=overwrite)


def storage_file(storage):
    """The local file of an Optuna storage URL (``sqlite:///...``), or None.

    Examples
    --------
    >>> from sk_spotting.cli._common import storage_file
    >>> storage_file("sqlite:///runs/tune.db"), storage_file("postgresql://h/db")
    (PosixPath('runs/tune.db'), None)
    """
    prefix = "sqlite:///"
    if storage is None or not storage.startswith(prefix):
        return None
    name = storage[len(prefix) :].split("?", 1)[0]
    return Path(name) if name and name != ":memory:" else None


def _resolved(path):
    return Path(os.path.abspath(path)).resolve()


def check_not_input(path, inputs, *, option):
    """Refuse an output that is, or would hold, one of the command's inputs.

    This holds even with ``--overwrite``: a command never destroys what it
    reads (a model, a labels file, a results folder, a config file).

    Parameters
    ----------
    path : str or path-like
        An output file or folder.
    inputs : iterable of tuple of (path-like, str)
        Each input path (a file or a folder) and a description of it.
    option : str
        The output's option, for messages.

    Raises
    ------
    UsageError
        If ``path`` is an input (the same file, also through a link) or a
        folder that holds one.

    Examples
    --------
    >>> from sk_spotting.cli._common import check_not_input
    >>> check_not_input("m.safetensors", [("m.safetensors", "the model")],
    ...                 option="--zip")
    Traceback (most recent call last):
    ...
    sk_spotting.cli._common.UsageError: --zip 'm.safetensors' is the model, an input of this command; choose another path.
    """  # noqa: E501
    out = _resolved(path)
    for source, description in inputs:
        if source is None:
            continue
        source = _resolved(source)
        same = out == source or (
            out.exists() and source.exists() and os.path.samefile(out, source)
        )
        if same:
            raise UsageError(
                f"{option} {str(path)!r} is {description}, an input of this "
                f"command; choose another path."
            )
        if source.is_relative_to(out):
            raise UsageError(
                f"{option} {str(path)!r} holds {description} "
                f"({str(source)!r}), an input of this command; choose another "
                f"path."
            )


def data_inputs(meta):
    """The feature and labels files of the videos of ``meta``, as inputs.

    Parameters
    ----------
    meta : pandas.DataFrame
        From :func:`load_data`: ``game``, ``half`` and ``features_path``.

    Returns
    -------
    inputs : list of tuple of (pathlib.Path, str)
        For :func:`check_not_input`.
    """
    from ..datasets._soccernet import LABELS_FILE

    inputs = []
    for game, half, features in zip(meta["game"], meta["half"], meta["features_path"]):
        inputs.append((Path(features), f"a feature file of game {game!r}"))
        if half == 1:
            labels = Path(features).parent / LABELS_FILE
            inputs.append((labels, f"the labels file of game {game!r}"))
    return inputs


def video_names(meta):
    """``game '<league/season/game>', half <h>`` for each video of ``meta``.

    Examples
    --------
    >>> import pandas as pd
    >>> from sk_spotting.cli._common import video_names
    >>> video_names(pd.DataFrame({"game": ["a/b/c"], "half": [2]}))
    ["game 'a/b/c', half 2"]
    """
    return [
        f"game {game!r}, half {half}" for game, half in zip(meta["game"], meta["half"])
    ]


def plural(n, word):
    """``"1 game"``, ``"2 games"``.

    Examples
    --------
    >>> from sk_spotting.cli._common import plural
    >>> plural(1, "game"), plural(3, "video")
    ('1 game', '3 videos')
    """
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def load_data(
    root, *, split=None, features, frame_rate, classes=None, require_labels=False
):
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
    require_labels : bool, default=False
        Fail on a game without a labels file (commands that score), instead
        of reading it as a game without actions.

    Returns
    -------
    X, y, meta
        As :func:`sk_spotting.datasets.load_soccernet`.
    """
    from ..datasets import load_soccernet

    return load_soccernet(
        root,
        split=split,
        features=features,
        frame_rate=frame_rate,
        classes=classes,
        require_labels=require_labels,
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
