"""``sk-spotting fit``: train a DenseAnchorSpotter on a SoccerNet-style folder."""

from __future__ import annotations

import argparse
import atexit
import sys
import time
from pathlib import Path

import torch.distributed as dist

from ..training._distributed import is_main_process
from ._common import (
    CommandError,
    UsageError,
    build_estimator,
    check_model_output,
    check_not_input,
    data_inputs,
    default_classes,
    echo,
    estimator_parameters_epilog,
    load_data,
    plural,
    video_names,
)

DESCRIPTION = """\
Train a DenseAnchorSpotter (confidence network, then displacement network) on
the games under DATA_ROOT (<league>/<season>/<game>/{1,2}_<features>.npy and
Labels-v2.json) and save it to --out in sk_spotting's safe model format (a
safetensors file, read by 'sk-spotting predict' and sk_spotting.load_spotter;
loading it runs no code).  An existing --out is replaced only with --overwrite,
and never when it is an input of the command.

Parameters come from, in order: the command's defaults (verbose=1), a JSON
object given with --config, then each --set KEY=VALUE.  Every key is checked
against the estimator before any data is read.

The training state of each network is saved every validation_interval epochs
in the checkpoint folder (default: next to --out, named <out>.checkpoints).
After an interruption (Ctrl-C, SIGTERM, a killed process), run the same command
with --resume: training continues from the last checkpoint and ends with the
same number of epochs, losing at most one validation interval of work.

Started by torchrun (torchrun --nproc-per-node N -m sk_spotting fit ...), the
N processes train one model data-parallel (the global batch stays batch_size,
split over them); only rank 0 prints, writes checkpoints and writes --out.
See docs/scaling.md.
"""


def add_parser(subparsers, parents):
    """Register ``fit`` on ``subparsers``."""
    from .. import DenseAnchorSpotter

    parser = subparsers.add_parser(
        "fit",
        parents=parents,
        help="train a spotter on a SoccerNet-style folder",
        description=DESCRIPTION,
        epilog=estimator_parameters_epilog(DenseAnchorSpotter),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data_root", metavar="DATA_ROOT", help="training data root")
    parser.add_argument(
        "--out",
        required=True,
        metavar="MODEL",
        help="model file to write, e.g. model.safetensors (safe format)",
    )
    add_estimator_arguments(parser)
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out file"
    )
    parser.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        help="checkpoint folder (default: <out without suffix>.checkpoints)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted fit from its checkpoints",
    )
    parser.set_defaults(run=run)
    return parser


def add_data_arguments(
    parser,
    *,
    split_help,
    frame_rate=True,
    frame_rate_help="frames per second of the features (default: 2)",
):
    """``--split``, ``--features`` and ``--frame-rate``, shared by commands."""
    parser.add_argument(
        "--split",
        choices=("train", "valid", "test", "challenge"),
        help=f"{split_help} (default: every game folder under the root)",
    )
    parser.add_argument(
        "--features",
        default="ResNET_TF2_PCA512",
        metavar="NAME",
        help="feature file stem, as in 1_NAME.npy (default: %(default)s)",
    )
    if frame_rate:
        parser.add_argument(
            "--frame-rate",
            type=float,
            metavar="F",
            help=frame_rate_help,
        )


def _summary(X, meta):
    hours = sum(x.shape[0] for x in X) / 3600
    return f"{plural(meta['game'].nunique(), 'game')}, {plural(len(X), 'video')}", hours


def schedule(interval, epochs):
    """When something done every ``interval`` epochs (and at the last) happens.

    Validation scores and checkpoints follow this rule.

    Examples
    --------
    >>> from sk_spotting.cli._fit import schedule
    >>> schedule(1, 5), schedule(10, 40), schedule(10, 25)
    ('after every epoch', 'every 10 epochs', 'every 10 epochs and after the last')
    >>> schedule(10, 2)
    'after the last epoch only (validation_interval=10, epochs=2)'
    """
    if interval == 1 or epochs == 1:
        return "after every epoch"
    if interval >= epochs:
        return (
            f"after the last epoch only (validation_interval={interval}, "
            f"epochs={epochs})"
        )
    if epochs % interval:
        return f"every {interval} epochs and after the last"
    return f"every {interval} epochs"


def _check_data(data, estimator, *, what, classes=None, n_features=None):
    """Check videos and labels with errors naming the game folder and half."""
    from ..data import check_videos_and_events

    X, y, meta = data
    try:
        check_videos_and_events(
            X,
            y,
            frame_rate=estimator.frame_rate,
            classes=classes,
            n_features=n_features,
            names=video_names(meta),
        )
    except (TypeError, ValueError) as exc:
        raise CommandError(f"{what}: {exc}") from None


def _checkpoint_dir(args, estimator, explicit):
    out = Path(args.out)
    chosen = args.checkpoint_dir
    if chosen is not None and "checkpoint_dir" in explicit:
        if Path(chosen) != Path(estimator.checkpoint_dir):
            raise UsageError(
                "--checkpoint-dir and the checkpoint_dir parameter disagree; give one."
            )
    if chosen is None:
        chosen = estimator.checkpoint_dir
    if chosen is None:
        chosen = (
            out.with_suffix(".checkpoints")
            if out.suffix
            else Path(f"{out}.checkpoints")
        )
    return Path(chosen)


def _set_frame_rate(args, estimator, explicit):
    if args.frame_rate is None:
        return
    if "frame_rate" in explicit and estimator.frame_rate != args.frame_rate:
        raise UsageError(
            f"--frame-rate {args.frame_rate} and frame_rate={estimator.frame_rate} "
            f"disagree; give one."
        )
    try:
        estimator.set_params(frame_rate=args.frame_rate)
        estimator._validate_params()
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def add_estimator_arguments(parser):
    """Training data and estimator options shared by ``fit`` and ``tune``."""
    add_data_arguments(
        parser,
        split_help="official split to train on",
        frame_rate_help="frames per second of the features; sets the estimator's "
        "frame_rate (default: 2)",
    )
    parser.add_argument(
        "--valid-split",
        metavar="SPLIT",
        help="official split to validate on (from --valid-root, default DATA_ROOT)",
    )
    parser.add_argument(
        "--valid-root",
        metavar="DIR",
        help="validation data root (all its games, or those of --valid-split)",
    )
    parser.add_argument(
        "--config", metavar="JSON", help="JSON file of estimator parameters"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="assignments",
        help="set one estimator parameter (repeatable); see the list below",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bars (verbose=0)"
    )


def estimator_and_data(args):
    """The configured estimator and the training (and validation) data.

    Returns
    -------
    estimator : DenseAnchorSpotter
    explicit : set of str
        Parameters set by ``--config`` or ``--set``.
    train : tuple of (X, y, meta)
    valid : tuple of (X, y, meta) or None
    """
    from .. import DenseAnchorSpotter

    estimator, explicit = build_estimator(
        DenseAnchorSpotter,
        config=args.config,
        assignments=args.assignments,
        defaults={"verbose": 0 if args.quiet else 1},
    )
    _set_frame_rate(args, estimator, explicit)
    if args.valid_split is not None and args.valid_root is None:
        args.valid_root = args.data_root
    frame_rate = estimator.frame_rate
    train = load_data(
        args.data_root, split=args.split, features=args.features, frame_rate=frame_rate
    )
    valid = None
    if args.valid_root is not None:
        valid = load_data(
            args.valid_root,
            split=args.valid_split,
            features=args.features,
            frame_rate=frame_rate,
        )
    if estimator.classes is None:
        classes = default_classes(train[1], valid[1] if valid else [])
        if classes is not None:  # all 17 SoccerNet-v2 classes, even unseen ones
            estimator.set_params(classes=classes)
    classes = None if estimator.classes is None else [str(c) for c in estimator.classes]
    _check_data(train, estimator, what="training data", classes=classes)
    if valid is not None:
        seen = classes or sorted({label for t in train[1] for label in t["label"]})
        _check_data(
            valid,
            estimator,
            what="validation data",
            classes=seen,
            n_features=train[0][0].shape[1],
        )
    what, hours = _summary(train[0], train[2])
    echo(
        f"training on {what} ({hours:.1f} h of features, "
        f"{train[0][0].shape[1]} features at {frame_rate:g} fps)"
    )
    if valid is not None:
        what, _ = _summary(valid[0], valid[2])
        when = schedule(estimator.validation_interval, estimator.epochs)
        echo(f"validating on {what} {when}")
    return estimator, explicit, train, valid


def _checkpoint_state(folder):
    try:
        return {p.name: p.stat().st_mtime_ns for p in Path(folder).glob("*.pt")}
    except OSError:
        return {}


def _interrupt_message(checkpoints, before, *, resume, first):
    """What to tell after Ctrl-C: only what is true of the checkpoint folder."""

    def message():
        now = _checkpoint_state(checkpoints)
        if now and (resume or now != before):
            return (
                f"Checkpoints are in {str(checkpoints)!r}; run the same command "
                f"with --resume to continue."
            )
        if now:
            return (
                f"No checkpoint of this run was written yet (the first comes "
                f"{first}); {str(checkpoints)!r} holds those of an earlier fit."
            )
        return (
            f"No checkpoint was written yet (the first comes {first}); run the "
            f"same command to start again."
        )

    return message


def _end_process_group():
    if dist.is_initialized():
        dist.destroy_process_group()


def run(args):
    """Train and save; returns the exit code."""
    from .. import save_spotter

    check_model_output(args.out, option="--out", overwrite=args.overwrite)
    estimator, explicit, (X, y, meta), valid = estimator_and_data(args)
    X_valid, y_valid = (valid[0], valid[1]) if valid else (None, None)
    checkpoints = _checkpoint_dir(args, estimator, explicit)
    inputs = data_inputs(meta) + (data_inputs(valid[2]) if valid else [])
    inputs += [
        (args.config, "the --config file"),
        (checkpoints, "the checkpoint folder"),
    ]
    check_not_input(args.out, inputs, option="--out")
    if Path(args.out).resolve().is_relative_to(checkpoints.resolve()):
        raise UsageError(
            f"--out {args.out!r} is inside the checkpoint folder "
            f"{str(checkpoints)!r}, which fit rewrites; choose another path."
        )
    estimator.set_params(checkpoint_dir=str(checkpoints))
    before = _checkpoint_state(checkpoints)
    if args.resume and not before:
        echo(
            f"no checkpoint in {str(checkpoints)!r}: starting from scratch",
            file=sys.stderr,
        )
    elif before and not args.resume:
        echo(
            f"note: starting afresh; the checkpoints in {str(checkpoints)!r} "
            f"will be replaced (--resume continues them)",
            file=sys.stderr,
        )
    when = schedule(estimator.validation_interval, estimator.epochs)
    echo(f"checkpoints: {str(checkpoints)!r}, saved {when}")
    first = f"after epoch {min(estimator.validation_interval, estimator.epochs)}"
    args.interrupt_message = _interrupt_message(
        checkpoints, before, resume=args.resume, first=first
    )
    start = time.perf_counter()
    owns_group = not (dist.is_available() and dist.is_initialized())
    estimator.fit(X, y, X_valid=X_valid, y_valid=y_valid, resume=args.resume)
    if owns_group and dist.is_available() and dist.is_initialized():
        # The fit started the process group: end it when the process ends
        # (NCCL warns otherwise).  Not now: a group cannot be started again in
        # the same process (pytorch/pytorch#55967), and main() may run again.
        atexit.register(_end_process_group)
    if not is_main_process():
        return 0  # rank 0 writes the model
    path = save_spotter(estimator, args.out)
    epochs = [f"confidence {len(estimator.confidence_net_.history)}"]
    if estimator.displacement_net_ is not None:
        epochs.append(f"displacement {len(estimator.displacement_net_.history)}")
    echo(
        f"saved {str(path)!r} after {time.perf_counter() - start:.0f} s "
        f"(epochs: {', '.join(epochs)})"
    )
    return 0
