"""``sk-spotting tune-nms``: per-class NMS windows of a model, chosen on validation.

A thin wrapper over :func:`sk_spotting.model_selection.tune_nms_windows`.
"""

from __future__ import annotations

import argparse
import json

from .._files import atomic_write
from .._persistence import save_spotter
from ._common import (
    UsageError,
    check_model_output,
    check_not_input,
    check_output,
    data_inputs,
    echo,
    load_data,
    load_model,
    parse_tolerances,
)
from ._fit import add_data_arguments

DESCRIPTION = """\
Choose the NMS window of each class of a model saved by 'sk-spotting fit' on
the games under DATA_ROOT (validation games: --split valid, or a validation
root), without training: the model scores the videos once, and each class
keeps the window of --windows (or its current one) that maximises its average
AP over --tolerances.  Writes --out, a JSON object {"nms_window": {class:
seconds}} (for DenseAnchorSpotter.set_params or a 'fit --config'), and with
--save-model a copy of the model that uses these windows.  Every game needs
its labels file.  An existing --out or --save-model file is replaced only with
--overwrite, and never when it is an input (the model, the data).
"""


def parse_windows(text):
    """``--windows``: comma-separated positive seconds.

    Parameters
    ----------
    text : str
        ``"4,8,20"``.

    Returns
    -------
    windows : list of float

    Examples
    --------
    >>> from sk_spotting.cli._tune_nms import parse_windows
    >>> parse_windows("4,8,20")
    [4.0, 8.0, 20.0]
    """
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if not values or any(not 0 < v < float("inf") for v in values):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive seconds such as 4,8,20; got {text!r}"
        )
    return values


def add_parser(subparsers, parents):
    """Register ``tune-nms`` on ``subparsers``."""
    from ..model_selection import DEFAULT_NMS_WINDOWS

    parser = subparsers.add_parser(
        "tune-nms",
        parents=parents,
        help="choose per-class NMS windows of a model on validation games",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="model file from 'fit'")
    parser.add_argument("data_root", metavar="DATA_ROOT", help="validation data root")
    parser.add_argument(
        "--out", required=True, metavar="JSON", help="windows file to write"
    )
    add_data_arguments(parser, split_help="official split to tune on", frame_rate=False)
    default = ",".join(f"{w:g}" for w in DEFAULT_NMS_WINDOWS)
    parser.add_argument(
        "--windows",
        type=parse_windows,
        default=list(DEFAULT_NMS_WINDOWS),
        metavar="W1,W2",
        help=f"full window widths to try, in seconds (default: {default})",
    )
    parser.add_argument(
        "--tolerances",
        type=parse_tolerances,
        default="loose",
        metavar="T",
        help="loose, tight or comma-separated seconds (default: loose)",
    )
    parser.add_argument(
        "--save-model",
        metavar="PATH",
        help="also write the model with the chosen windows here",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out or --save-model file",
    )
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also load a pickled (.joblib) model: it runs any code it holds, "
        "so only for files you made or trust",
    )
    parser.set_defaults(run=run)
    return parser


def run(args):
    """Choose the windows and write them; returns the exit code."""
    from ..model_selection import tune_nms_windows

    outputs = [("--out", args.out)]
    check_output(args.out, option="--out", kind="file", overwrite=args.overwrite)
    if args.save_model:
        check_model_output(
            args.save_model, option="--save-model", overwrite=args.overwrite
        )
        check_not_input(
            args.save_model, [(args.out, "the --out file")], option="--save-model"
        )
        outputs.append(("--save-model", args.save_model))
    for option, path in outputs:
        check_not_input(path, [(args.model, "the model")], option=option)
    model = load_model(args.model, allow_pickle=args.allow_pickle)
    if not hasattr(model, "predict_scores") or not hasattr(model, "nms_window"):
        raise UsageError(
            f"{args.model!r} holds a {type(model).__name__}, which has no "
            f"predict_scores and nms_window to tune."
        )
    X, y, meta = load_data(
        args.data_root,
        split=args.split,
        features=args.features,
        frame_rate=model.frame_rate,
        require_labels=True,
    )
    for option, path in outputs:
        check_not_input(path, data_inputs(meta), option=option)
    windows, scores = tune_nms_windows(
        model,
        X,
        y,
        windows=args.windows,
        tolerances=args.tolerances,
        return_scores=True,
    )
    text = json.dumps({"nms_window": windows}, indent=2) + "\n"
    atomic_write(args.out, text.encode())
    current = model.nms_window
    echo(f"average AP ({_name(args.tolerances)}) per class, current -> chosen:")
    for name, window in windows.items():
        now = current[name] if isinstance(current, dict) else current
        echo(
            f"  {name}: {now:g} s -> {window:g} s: {100 * scores.loc[name, now]:.2f} "
            f"-> {100 * scores.loc[name, window]:.2f}"
        )
    written = [repr(str(args.out))]
    if args.save_model:
        save_spotter(model.set_params(nms_window=windows), args.save_model)
        written.append(repr(str(args.save_model)))
    echo(f"wrote {' and '.join(written)}")
    return 0


def _name(tolerances):
    if isinstance(tolerances, str):
        return tolerances
    return ", ".join(f"{t:g}" for t in tolerances) + " s"
