"""``sk-spotting predict``: official ``results_spotting.json`` files from a model."""

from __future__ import annotations

import argparse
import warnings

from ._common import echo, load_data, load_model
from ._fit import add_data_arguments

DESCRIPTION = """\
Spot actions in the games under DATA_ROOT with a model saved by
'sk-spotting fit' and write one results_spotting.json per game, in the format
of the official SoccerNet evaluator, under --out (and a submission zip with
--zip).  The frame rate is the model's.
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


def run(args):
    """Predict and write; returns the exit code."""
    from ..datasets import write_soccernet_predictions

    model = load_model(args.model)
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
    y_pred = predict_videos(model, X, progress=not args.quiet)
    paths = write_soccernet_predictions(y_pred, meta, args.out, zip_path=args.zip)
    n_events = sum(len(table) for table in y_pred)
    echo(
        f"wrote {len(paths)} results_spotting.json files ({n_events} detections) "
        f"under {args.out!r}" + (f" and {args.zip!r}" if args.zip else "")
    )
    return 0
