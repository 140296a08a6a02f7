"""``sk-spotting tune``: the paper's tuning in turn, from the command line.

A thin wrapper over :func:`sk_spotting.model_selection.tune_in_turn`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import numbers
from pathlib import Path

from .._files import atomic_folder
from .._persistence import save_spotter
from ._common import (
    UsageError,
    check_not_input,
    check_output,
    data_inputs,
    echo,
    estimator_parameters_epilog,
    storage_file,
)
from ._fit import add_estimator_arguments, estimator_and_data

DESCRIPTION = """\
Tune hyper-parameters one after the other (the paper's protocol: learning
rate, then SAM rho, then weight decay, then mixup alpha), each with an Optuna
study of --n-trials trials scored on the validation games (--valid-root or
--valid-split), or by group k-fold over the training games (--cv).  The other
parameters come from --config and --set, as for 'fit'.

Writes the folder --out, whole or not at all: best_params.json (all estimator
parameters, ready for 'sk-spotting fit --config'), trials.csv (one row per
trial) and, unless --no-refit, model.safetensors (the safe model format)
fitted with the best parameters.  A non-empty --out is replaced only with
--overwrite, and never when it holds an input (the data, the --config file,
a SQLite --storage file); it is checked before tuning starts.

Search spaces: --space KEY=JSON, where a JSON list is a set of values and an
object {"low": 1e-4, "high": 1e-2, "log": true} a range (integers give an
integer range); add "zero": true to a log range for "0 (off) or log-uniform"
(sk_spotting.model_selection.ZeroOrLogUniform; "zero": 0.4 sets the share of
0).  Parameters without one use the defaults of
sk_spotting.model_selection.DEFAULT_SEARCH_SPACES.  Several machines can share
the studies through --storage (an Optuna database URL) and --study-name; the
trials of a worker that dies are failed and run again by the others (at once
on this machine, after 3 --heartbeat-interval elsewhere), so rerunning the
same command after a crash resumes it.
"""


def add_parser(subparsers, parents):
    """Register ``tune`` on ``subparsers``."""
    from .. import DenseAnchorSpotter

    parser = subparsers.add_parser(
        "tune",
        parents=parents,
        help="tune hyper-parameters in turn with Optuna",
        description=DESCRIPTION,
        epilog=estimator_parameters_epilog(DenseAnchorSpotter),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data_root", metavar="DATA_ROOT", help="training data root")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a non-empty --out folder"
    )
    add_estimator_arguments(parser)
    parser.add_argument(
        "--params",
        default="learning_rate,sam_rho,weight_decay,mixup_alpha",
        metavar="P1,P2",
        help="parameters in tuning order (default: %(default)s)",
    )
    parser.add_argument(
        "--space",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="search space of one parameter (repeatable), see above",
    )
    parser.add_argument(
        "--n-trials",
        type=int,
        default=10,
        metavar="N",
        help="trials per parameter (default: %(default)s)",
    )
    parser.add_argument(
        "--scoring",
        choices=("loose", "tight"),
        default="loose",
        help="validation average-mAP to maximise (default: %(default)s)",
    )
    parser.add_argument(
        "--cv",
        type=int,
        default=5,
        metavar="K",
        help="group k-fold over games without validation data (default: 5)",
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        metavar="N",
        help="worker processes on this machine (default: 1)",
    )
    parser.add_argument("--storage", metavar="URL", help="Optuna storage URL")
    parser.add_argument("--study-name", metavar="NAME", help="study name prefix")
    parser.add_argument(
        "--seed", type=int, metavar="S", help="seed of the samplers (default: none)"
    )
    parser.add_argument(
        "--heartbeat-interval",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="seconds between the heartbeats of a running trial; a trial of a "
        "dead worker elsewhere is failed after 3 intervals (default: 60)",
    )
    parser.add_argument(
        "--devices",
        type=parse_devices,
        metavar="D1,D2",
        help="devices of the workers, round-robin: CUDA indices (0,1) or torch "
        "names (cuda:1,cpu); default: with --n-jobs > 1 and device auto, one "
        "GPU per worker over all GPUs",
    )
    parser.add_argument(
        "--no-refit", action="store_true", help="do not fit the best model"
    )
    parser.set_defaults(run=run)
    return parser


def parse_space(text):
    """One ``--space KEY=JSON`` argument as ``(key, space)``.

    Parameters
    ----------
    text : str
        ``KEY=[v1, v2]`` or ``KEY={"low": a, "high": b, "log": bool}``.

    Returns
    -------
    key : str
    space : list or optuna distribution

    Examples
    --------
    >>> from sk_spotting.cli._tune import parse_space
    >>> parse_space("sam_rho=[0, 0.5]")
    ('sam_rho', [0, 0.5])
    >>> parse_space('learning_rate={"low": 1e-4, "high": 1e-2, "log": true}')[1]
    FloatDistribution(high=0.01, log=True, low=0.0001, step=None)
    >>> parse_space('epochs={"low": 10, "high": 40}')[1]
    IntDistribution(high=40, log=False, low=10, step=1)
    >>> parse_space('sam_rho={"low": 0.01, "high": 1, "log": true, "zero": true}')[1]
    ZeroOrLogUniform(0.01, 1.0)
    """
    key, sep, value = text.partition("=")
    try:
        space = json.loads(value) if sep and key.strip() else None
    except json.JSONDecodeError:
        space = None
    if isinstance(space, list) and space:
        return key.strip(), space
    if isinstance(space, dict) and {"low", "high"} <= set(space) <= {
        "low",
        "high",
        "log",
        "zero",
    }:
        try:
            distribution = _range(space)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--space {text!r}: {exc}") from None
        if distribution is not None:
            return key.strip(), distribution
    raise UsageError(
        f'--space expects KEY=[values] or KEY={{"low": a, "high": b, '
        f'"log": false}} (with "log": true, "zero": true adds 0), got {text!r}.'
    )


def _range(space):
    """The distribution of a ``{"low", "high", "log", "zero"}`` object, or None."""
    from optuna.distributions import FloatDistribution, IntDistribution

    from ..model_selection import ZeroOrLogUniform

    low, high, log = space["low"], space["high"], space.get("log", False)
    zero = space.get("zero", False)
    if not all(isinstance(v, numbers.Real) for v in (low, high)) or not isinstance(
        log, bool
    ):
        return None
    if zero is not False:
        if not log:
            raise ValueError('"zero" needs "log": true (0 or log-uniform).')
        share = {} if zero is True else {"zero_share": zero}
        return ZeroOrLogUniform(low, high, **share)
    if all(isinstance(v, int) for v in (low, high)):
        return IntDistribution(low, high, log=log)
    return FloatDistribution(low, high, log=log)


def parse_devices(text):
    """``--devices``: comma-separated CUDA indices or torch device names.

    Parameters
    ----------
    text : str
        ``"0,1"``, ``"cuda:0,cuda:1"`` or ``"cpu"``.

    Returns
    -------
    devices : list of int or str

    Examples
    --------
    >>> from sk_spotting.cli._tune import parse_devices
    >>> parse_devices("0,1"), parse_devices("cuda:1, cpu")
    ([0, 1], ['cuda:1', 'cpu'])
    """
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated devices such as 0,1 or cuda:0,cpu; got {text!r}"
        )
    return [int(part) if part.isdigit() else part for part in parts]


@contextlib.contextmanager
def _optuna_quiet(quiet):
    """Optuna's per-trial lines off (warnings kept) while tuning, if ``quiet``."""
    import optuna

    level = optuna.logging.get_verbosity()
    if quiet:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def run(args):
    """Tune and write the results; returns the exit code."""
    from sklearn.model_selection import GroupKFold

    from ..model_selection import groups_from_meta, tune_in_turn

    params = [p.strip() for p in args.params.split(",") if p.strip()]
    spaces = dict(parse_space(text) for text in args.space)
    if args.n_trials < 1 or args.cv < 2:
        raise UsageError("--n-trials must be >= 1 and --cv >= 2.")
    if not 0 < args.heartbeat_interval < float("inf"):
        raise UsageError("--heartbeat-interval must be a positive number of seconds.")
    check_output(args.out, option="--out", kind="folder", overwrite=args.overwrite)
    estimator, _, (X, y, meta), valid = estimator_and_data(args)
    inputs = data_inputs(meta) + (data_inputs(valid[2]) if valid else [])
    inputs.append((args.config, "the --config file"))
    inputs.append((storage_file(args.storage), "the --storage file"))
    check_not_input(args.out, inputs, option="--out")
    options = {}
    if valid is not None:
        options.update(X_valid=valid[0], y_valid=valid[1])
    else:
        options.update(cv=GroupKFold(args.cv), groups=groups_from_meta(meta))
    with _optuna_quiet(args.quiet):
        result = tune_in_turn(
            estimator,
            X,
            y,
            params=params,
            search_spaces=spaces or None,
            n_trials_per_param=args.n_trials,
            scoring=args.scoring,
            storage=args.storage,
            study_name=args.study_name,
            n_jobs=args.n_jobs,
            random_state=args.seed,
            refit=not args.no_refit,
            heartbeat_interval=args.heartbeat_interval,
            devices=args.devices,
            **options,
        )
    out = Path(args.out)
    best = result.best_estimator.get_params(deep=False)
    best = {k: v for k, v in best.items() if k not in ("checkpoint_dir",)}
    text = json.dumps(best, indent=2, default=str) + "\n"
    written = ["best_params.json", "trials.csv"]
    with atomic_folder(out) as folder:
        (folder / "best_params.json").write_text(text, encoding="utf-8")
        result.trials.to_csv(folder / "trials.csv", index=False, encoding="utf-8")
        if not args.no_refit:
            save_spotter(result.best_estimator, folder / "model.safetensors")
            written.append("model.safetensors")
    echo(f"best {args.scoring} validation average-mAP after each parameter:")
    for key, value in result.best_params.items():
        echo(f"  {key} = {value!r}: {100 * result.best_scores[key]:.2f}")
    echo(f"wrote {', '.join(written)} into {str(out)!r}")
    return 0
