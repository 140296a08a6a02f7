"""``sk-spotting report``: PNG figures and a self-contained HTML page."""

from __future__ import annotations

import argparse
import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd

from ._common import check_not_input, check_output, data_inputs, echo, plural
from ._evaluate import (
    add_interval_arguments,
    add_label_arguments,
    bootstrap_intervals,
    game_groups,
    load_truth_and_predictions,
)
from ._fit import add_data_arguments

DESCRIPTION = """\
Draw the visual report of results_spotting.json files against the labels under
DATA_ROOT: mAP against tolerance (1-60 s), per-class AP for the loose and tight
average-mAP, a timeline of ground truth against detections for the first
videos, and a histogram of the time errors of matched detections.  Writes the
PNG files and index.html (images embedded, a single file to share) into --out,
as a set (a temporary folder moved into place).  An existing non-empty --out
folder is replaced only with --overwrite, and never when it holds an input.

With at least 2 games the per-class figure shows bootstrap percentile intervals
of the AP and the average-mAP: games resampled with replacement, both halves
together, with a fixed seed (--n-resamples 0 draws none).
"""

CURVE_TOLERANCES = tuple(float(t) for t in range(1, 61))


def add_parser(subparsers, parents):
    """Register ``report`` on ``subparsers``."""
    parser = subparsers.add_parser(
        "report",
        parents=parents,
        help="PNG figures and an HTML page of results",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data_root", metavar="DATA_ROOT", help="data root (labels)")
    parser.add_argument(
        "results", metavar="RESULTS", help="results folder or submission zip"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="report folder")
    add_data_arguments(parser, split_help="official split to report on")
    parser.add_argument(
        "--max-videos",
        type=int,
        default=4,
        metavar="N",
        help="timelines of the first N videos (default: %(default)s)",
    )
    parser.add_argument("--title", default="Action spotting report", help="page title")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out folder (whole)",
    )
    add_interval_arguments(parser, zero_help="; 0 for no intervals")
    add_label_arguments(parser)
    parser.set_defaults(run=run)
    return parser


def _save(ax, path):
    ax.figure.savefig(path, dpi=110)
    return path


def _png_base64(path):
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _evaluate_all(y_true, predictions, classes):
    from ..metrics import average_map_score

    results = {}
    for name, y_pred in predictions.items():
        results[name] = {
            key: average_map_score(
                y_true, y_pred, tolerances=tol, classes=classes, return_details=True
            )
            for key, tol in (
                ("loose", "loose"),
                ("tight", "tight"),
                ("curve", CURVE_TOLERANCES),
            )
        }
    return results


def _intervals(y_true, y_pred, meta, classes, n_resamples, confidence_level):
    """Loose and tight bootstrap intervals, or a sentence saying why none."""
    groups = game_groups(meta, len(y_true))
    n_groups = len(pd.unique(groups))
    unit = "games" if meta is not None and "game" in meta.columns else "videos"
    if n_resamples == 0:
        return {}, "No bootstrap intervals (0 resamples)."
    if n_groups < 2:
        return {}, (
            f"No bootstrap interval: it resamples {unit}, and there is only one."
        )
    intervals = {
        name: bootstrap_intervals(
            y_true,
            y_pred,
            groups,
            n_resamples=n_resamples,
            confidence_level=confidence_level,
            tolerances=name,
            classes=classes,
        )
        for name in ("loose", "tight")
    }
    return intervals, (
        f"Error bars: {100 * confidence_level:g}% bootstrap percentile intervals, "
        f"{n_resamples} resamples of the {n_groups} {unit}"
        + (" (both halves of a game together)." if unit == "games" else ".")
    )


def _video_name(meta, i):
    if meta is None:
        return f"video {i}"
    return f"{meta['game'].iloc[i]} — half {meta['half'].iloc[i]}"


def _summary_table(results, main, intervals):
    rows = {
        name: {
            "loose average-mAP": round(100 * r["loose"].average_map, 2),
            "tight average-mAP": round(100 * r["tight"].average_map, 2),
        }
        for name, r in results.items()
    }
    table = pd.DataFrame(rows).T
    for key, interval in intervals.items():
        column = f"{key} {100 * interval.confidence_level:g}% interval"
        table[column] = ""
        table.loc[main, column] = f"{100 * interval.low:.2f}-{100 * interval.high:.2f}"
    return table


def _per_class_table(results, name, y_true, intervals):
    classes = list(results[name]["loose"].classes)
    labels = pd.concat([t["label"] for t in y_true], ignore_index=True)
    table = pd.DataFrame(
        {"labels": labels.value_counts().reindex(classes, fill_value=0)},
        index=classes,
    )
    for key in ("loose", "tight"):
        table[f"{key} AP"] = np.round(100 * results[name][key].average_ap_per_class, 2)
        if key in intervals:
            bounds = intervals[key].per_class.reindex(classes)
            table[f"{key} low"] = np.round(100 * bounds["low"].to_numpy(), 2)
            table[f"{key} high"] = np.round(100 * bounds["high"].to_numpy(), 2)
    return table


def write_report(
    out_dir,
    y_true,
    predictions,
    *,
    meta=None,
    classes=None,
    frame_rate=2.0,
    max_videos=4,
    title="Action spotting report",
    n_resamples=1000,
    confidence_level=0.95,
):
    """Write the figures of a report as PNG files and one HTML page.

    Parameters
    ----------
    out_dir : str or path-like
        Folder to write into (created).
    y_true : list of pandas.DataFrame
        True events per video.
    predictions : dict of str to list of pandas.DataFrame
        Named sets of detections per video; the first is the main one (per
        class bars and timelines), all are drawn on the tolerance curve and
        the error histogram.
    meta : pandas.DataFrame, default=None
        ``game``, ``half`` and optionally ``n_frames`` of each video, for
        titles and timeline lengths.
    classes : sequence of str, default=None
        Classes scored; None takes the labels seen.
    frame_rate : float, default=2.0
        Frame rate of ``meta["n_frames"]``.
    max_videos : int, default=4
        Timelines are drawn for the first ``max_videos`` videos.
    title : str, default="Action spotting report"
        Page title.
    n_resamples : int, default=1000
        Bootstrap resamples of the games (``meta["game"]``; each video alone
        without meta) for the intervals of the main predictions, seeded with
        0; 0, or fewer than 2 games, draws no interval.
    confidence_level : float, default=0.95
        Confidence level of the intervals.

    Returns
    -------
    files : dict of str to pathlib.Path
        ``"html"`` and each figure's name to its file.
    """
    from ..plotting import (
        plot_displacement_errors,
        plot_map_vs_tolerance,
        plot_per_class_ap,
        plot_timeline,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = _evaluate_all(y_true, predictions, classes)
    main = next(iter(predictions))
    classes = list(results[main]["loose"].classes)
    intervals, interval_note = _intervals(
        y_true, predictions[main], meta, classes, n_resamples, confidence_level
    )
    files = {}
    curves = {name: r["curve"] for name, r in results.items()}
    files["map_vs_tolerance"] = _save(
        plot_map_vs_tolerance(curves, title="mAP against tolerance"),
        out / "map_vs_tolerance.png",
    )
    files["per_class_ap"] = _save(
        plot_per_class_ap(
            {"loose": results[main]["loose"], "tight": results[main]["tight"]},
            intervals=intervals or None,
            title=f"Average AP per class ({main})",
        ),
        out / "per_class_ap.png",
    )
    files["displacement_errors"] = _save(
        plot_displacement_errors(
            y_true, predictions, title="Time errors of matched detections (±5 s)"
        ),
        out / "displacement_errors.png",
    )
    for i in range(min(max_videos, len(y_true))):
        duration = None
        if meta is not None and "n_frames" in meta.columns:
            duration = float(meta["n_frames"].iloc[i]) / frame_rate
        files[f"timeline_{i}"] = _save(
            plot_timeline(
                y_true[i],
                predictions[main][i],
                classes=classes,
                duration=duration,
                title=_video_name(meta, i),
            ),
            out / f"timeline_{i}.png",
        )
    files["html"] = out / "index.html"
    files["html"].write_text(
        _html_page(title, results, main, files, y_true, intervals, interval_note),
        encoding="utf-8",
    )
    return files


def _html_page(title, results, main, files, y_true, intervals, interval_note):
    def image(key, caption):
        return (
            f'<figure><img alt="{html.escape(caption)}" '
            f'src="data:image/png;base64,{_png_base64(files[key])}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    timelines = [k for k in files if k.startswith("timeline_")]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;"
        "padding:0 1em;color:#222}img{max-width:100%}table{border-collapse:"
        "collapse}td,th{padding:2px 10px;border-bottom:1px solid #ddd;"
        "text-align:right}th:first-child,td:first-child{text-align:left}"
        "figure{margin:1.5em 0}figcaption{color:#555;font-size:90%}</style>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(y_true)} videos. Average-mAP in %, SoccerNet rules (loose: "
        "tolerances 5-60 s, tight: 1-5 s).</p>",
        _summary_table(results, main, intervals).to_html(border=0),
        f"<p>{html.escape(interval_note)}</p>",
        "<h2>mAP against tolerance</h2>",
        image("map_vs_tolerance", "mAP at each tolerance from 1 to 60 s."),
        "<h2>Per class</h2>",
        image(
            "per_class_ap",
            f"Average AP per class, loose and tight ({main})"
            + (", with bootstrap intervals." if intervals else "."),
        ),
        _per_class_table(results, main, y_true, intervals).to_html(border=0),
        "<h2>Timelines</h2>",
        *[
            image(
                k,
                "Ground truth (red ticks) and detections (dots, colour = confidence).",
            )
            for k in timelines
        ],
        "<h2>Time errors</h2>",
        image(
            "displacement_errors",
            "Detection time minus action time for the detections matched within ±5 s.",
        ),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def run(args):
    """Write the report; returns the exit code."""
    from .._files import atomic_folder

    check_output(args.out, option="--out", kind="folder", overwrite=args.overwrite)
    y_true, y_pred, meta, classes = load_truth_and_predictions(args)
    inputs = data_inputs(meta) + [(args.results, "the results")]
    check_not_input(args.out, inputs, option="--out")
    with atomic_folder(args.out) as folder:
        files = write_report(
            folder,
            y_true,
            {"predictions": y_pred},
            meta=meta,
            classes=classes,
            frame_rate=args.frame_rate or 2.0,
            max_videos=args.max_videos,
            title=args.title,
            n_resamples=args.n_resamples,
            confidence_level=args.confidence_level,
        )
    echo(
        f"wrote {plural(len(files) - 1, 'figure')} and "
        f"{str(Path(args.out) / files['html'].name)!r}"
    )
    return 0
