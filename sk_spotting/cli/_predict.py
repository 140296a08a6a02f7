"""``sk-spotting predict``: official ``results_spotting.json`` files from a model."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from ._common import (
    CommandError,
    UsageError,
    check_not_input,
    check_output,
    data_inputs,
    echo,
    load_data,
    load_model,
    plural,
    video_names,
)
from ._fit import add_data_arguments

DESCRIPTION = """\
Spot actions in the games under DATA_ROOT with a model saved by
'sk-spotting fit' and write one results_spotting.json per game, in the format
of the official SoccerNet evaluator, under --out (and a submission zip with
--zip).  The frame rate is the model's.

The results folder is written as a set: into a temporary folder beside it,
then moved into place, so an interrupted run never leaves a folder that mixes
two models.  An existing non-empty --out folder or --zip file is replaced only
with --overwrite, and never when it is an input (the model, the data).

MODEL is a file from 'sk-spotting fit' (sk_spotting.save_spotter).  A pickle
(.joblib) runs any code it holds when loaded: it is refused unless
--allow-pickle is given, for files you made or trust.
"""


def add_parser(subparsers, parents):
    """Register ``predict`` on ``subparsers``."""
    parser = subparsers.add_parser(
        "predict",
        parents=parents,
        help="write results_spotting.json files (and a submission zip)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="model file from 'fit'")
    parser.add_argument("data_root", metavar="DATA_ROOT", help="data root")
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="results folder to write"
    )
    parser.add_argument("--zip", metavar="ZIP", help="also write this submission zip")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out folder (whole) or --zip file",
    )
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also load a joblib pickle as MODEL (it can run code: trusted files only)",
    )
    add_data_arguments(parser, split_help="official split to predict", frame_rate=False)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)
    return parser


def predict_videos(model, X, *, progress=True):
    """Events of each video, one video at a time behind a progress bar.

    Parameters
    ----------
    model : fitted spotter
        Has ``predict``.
    X : list of array-like
        Videos.
    progress : bool, default=True
        Show a tqdm bar on stderr.

    Returns
    -------
    y_pred : list of pandas.DataFrame
    """
    from tqdm.auto import tqdm

    return [
        model.predict([video])[0]
        for video in tqdm(X, desc="predict", unit="video", disable=not progress)
    ]


def _check_outputs(args, inputs):
    check_not_input(args.out, inputs, option="--out")
    if args.zip is None:
        return
    check_not_input(args.zip, inputs, option="--zip")
    out, zip_path = Path(args.out).resolve(), Path(args.zip).resolve()
    if zip_path.is_relative_to(out):
        raise UsageError(
            f"--zip {args.zip!r} is inside the --out folder {args.out!r}, which is "
            f"replaced whole; choose a path outside it."
        )


def run(args):
    """Predict and write; returns the exit code."""
    from .._files import atomic_folder
    from ..datasets import write_soccernet_predictions

    check_output(args.out, option="--out", kind="folder", overwrite=args.overwrite)
    if args.zip is not None:
        check_output(args.zip, option="--zip", kind="file", overwrite=args.overwrite)
    model = load_model(args.model, allow_pickle=args.allow_pickle)
    with warnings.catch_warnings():
        # Labels are not needed here: games without them are fine.
        warnings.filterwarnings(
            "ignore", message=".*have no Labels", category=UserWarning
        )
        X, _, meta = load_data(
            args.data_root,
            split=args.split,
            features=args.features,
            frame_rate=model.frame_rate,
        )
    _check_outputs(args, [(args.model, "the model")] + data_inputs(meta))
    # load_soccernet has checked each video (shape, finite values); only the
    # width against the model is left, without reading the features again
    for name, video in zip(video_names(meta), X):
        if video.shape[1] != model.n_features_in_:
            raise CommandError(
                f"{name} has {video.shape[1]} features, expected "
                f"{model.n_features_in_} by the model {args.model!r}."
            )
    y_pred = predict_videos(model, X, progress=not args.quiet)
    with atomic_folder(args.out) as folder:
        paths = write_soccernet_predictions(y_pred, meta, folder, zip_path=args.zip)
    n_events = sum(len(table) for table in y_pred)
    echo(
        f"wrote {plural(len(paths), 'results_spotting.json file')} "
        f"({plural(n_events, 'detection')}) "
        f"under {args.out!r}" + (f" and {args.zip!r}" if args.zip else "")
    )
    return 0
