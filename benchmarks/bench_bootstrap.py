"""Benchmark: bootstrap intervals of the average-mAP (``bootstrap_average_map``).

On the test-split-sized synthetic set of ``bench_metric.py`` (100 games = 200
halves of 45 min, about 110 actions per half over the 17 SoccerNet-v2 classes,
sparse and dense predictions), times 1,000 resamples of the games for the
loose and the tight average-mAP, checks that replayed resamples score exactly
what ``average_map_score`` gives on the explicitly resampled lists, and prints
the interval widths for test sets of fewer games drawn from the same process
(the demo's test set is one game; ``bench_accuracy.py``'s is four).

``--demo DIR`` (the output folder of ``sk-spotting demo``) adds the intervals
of the demo's own test game (its two halves resampled) and of its fitted
model on ``--new-games`` new games of the same generator.

Run ``python benchmarks/bench_bootstrap.py`` (``--help`` for options).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_metric import (  # noqa: E402
    make_dense_predictions,
    make_ground_truth,
    make_sparse_predictions,
)

from sk_spotting.datasets import SOCCERNET_V2_CLASSES  # noqa: E402
from sk_spotting.metrics import average_map_score, bootstrap_average_map  # noqa: E402


def time_bootstrap(y_true, y_pred, games, tolerances, n_resamples, repeat):
    """Best-of-``repeat`` wall and CPU times of one bootstrap, and its result.

    The CPU time (of this process; the bootstrap runs on one thread) is the
    steadier number on a machine shared with other jobs.
    """
    best, best_cpu = np.inf, np.inf
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = bootstrap_average_map(
            y_true,
            y_pred,
            groups=games,
            n_resamples=n_resamples,
            random_state=0,
            tolerances=tolerances,
            classes=SOCCERNET_V2_CLASSES,
        )
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return best, best_cpu, result


def time_metric(y_true, y_pred, tolerances, repeat):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        average_map_score(
            y_true, y_pred, tolerances=tolerances, classes=SOCCERNET_V2_CLASSES
        )
        best = min(best, time.perf_counter() - start)
    return best


def check_replay(y_true, y_pred, games, tolerances, result, n_checked):
    """The first resamples, replayed as documented, score exactly the same."""
    n_games = len(np.unique(games))
    rng = np.random.RandomState(0)
    for k in range(n_checked):
        drawn = rng.randint(n_games, size=n_games)
        videos = [v for g in drawn for v in np.flatnonzero(games == g)]
        expected = average_map_score(
            [y_true[v] for v in videos],
            [y_pred[v] for v in videos],
            tolerances=tolerances,
            classes=SOCCERNET_V2_CLASSES,
        )
        assert result.scores[k] == expected, (k, result.scores[k], expected)
    return n_checked


def widths(rng, game_counts, n_resamples, n_false_alarms):
    """Loose and tight interval widths for test sets of ``game_counts`` games."""
    print("\n== interval widths (sparse predictions, 95 %, points of average-mAP)")
    print("games | halves | loose: score [low, high] width | tight: ...")
    for n_games in game_counts:
        y_true = make_ground_truth(rng, 2 * n_games, 110)
        y_pred = make_sparse_predictions(rng, y_true, n_false_alarms)
        games = np.arange(2 * n_games) // 2
        parts = []
        for tolerances in ("loose", "tight"):
            result = bootstrap_average_map(
                y_true,
                y_pred,
                groups=games,
                n_resamples=n_resamples,
                random_state=0,
                tolerances=tolerances,
                classes=SOCCERNET_V2_CLASSES,
            )
            parts.append(
                f"{100 * result.score:.1f} [{100 * result.low:.1f}, "
                f"{100 * result.high:.1f}] {100 * (result.high - result.low):.1f}"
            )
        print(f"{n_games} | {2 * n_games} | " + " | ".join(parts))


def show(name, y_true, y_pred, groups):
    """Print the loose and tight intervals of one test set, and the CPU time."""
    for tolerances in ("loose", "tight"):
        start = time.process_time()
        result = bootstrap_average_map(
            y_true,
            y_pred,
            groups=groups,
            random_state=0,
            tolerances=tolerances,
            classes=SOCCERNET_V2_CLASSES,
        )
        print(
            f"{name} {tolerances}: {100 * result.score:.2f} [{100 * result.low:.2f}, "
            f"{100 * result.high:.2f}] width {100 * (result.high - result.low):.2f}, "
            f"{result.n_groups} groups, CPU {time.process_time() - start:.2f} s",
            flush=True,
        )


def demo_intervals(demo_dir, n_games, game_counts):
    """Intervals of the demo's test game and of its model on new games."""
    import torch

    from sk_spotting.cli._common import load_model
    from sk_spotting.datasets import (
        load_soccernet,
        make_spotting_data,
        read_soccernet_predictions,
    )

    torch.set_num_threads(1)
    demo_dir = Path(demo_dir)
    _, y_true, meta = load_soccernet(demo_dir / "data", features="synthetic")
    y_pred = read_soccernet_predictions(demo_dir / "results", meta)
    print("\n== the demo's test set and its model on new games (95 %)")
    show("demo test game, halves resampled", y_true, y_pred, None)
    model = load_model(demo_dir / "model.joblib")
    X, y_true = make_spotting_data(
        2 * n_games, n_features=model.n_features_in_, minutes=45.0, random_state=1234
    )
    start = time.perf_counter()
    y_pred = model.predict(X)
    print(f"predicted {2 * n_games} new halves in {time.perf_counter() - start:.0f} s")
    games = np.arange(2 * n_games) // 2
    for n in sorted(set(game_counts) | {n_games}):
        if n <= n_games:
            show(
                f"first {n} new games", y_true[: 2 * n], y_pred[: 2 * n], games[: 2 * n]
            )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-videos", type=int, default=200, help="halves")
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="best of")
    parser.add_argument("--false-alarms", type=float, default=40, help="per half")
    parser.add_argument("--spacing", type=int, default=21, help="dense run")
    parser.add_argument(
        "--games",
        type=int,
        nargs="*",
        default=[2, 4, 10, 25, 100],
        help="game counts of the width table",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--demo", metavar="DIR", help="output of sk-spotting demo")
    parser.add_argument("--new-games", type=int, default=100, help="with --demo")
    parser.add_argument(
        "--skip-synthetic", action="store_true", help="only the --demo part"
    )
    args = parser.parse_args(argv)
    if not args.skip_synthetic:
        synthetic(args)
    if args.demo:
        demo_intervals(args.demo, args.new_games, [4, 10, 25])


def synthetic(args):
    """Timings and widths on the synthetic predictions of bench_metric.py."""
    rng = np.random.default_rng(args.seed)
    y_true = make_ground_truth(rng, args.n_videos, 110)
    games = np.arange(args.n_videos) // 2
    runs = {
        "sparse": make_sparse_predictions(rng, y_true, args.false_alarms),
        "dense": make_dense_predictions(rng, y_true, args.spacing),
    }
    for name, y_pred in runs.items():
        n_detections = sum(len(t) for t in y_pred)
        print(
            f"\n== {name}: {args.n_videos} halves ({len(np.unique(games))} games), "
            f"{sum(len(t) for t in y_true)} actions, {n_detections} detections"
        )
        for tolerances in ("loose", "tight"):
            seconds, cpu, result = time_bootstrap(
                y_true, y_pred, games, tolerances, args.n_resamples, args.repeat
            )
            metric = time_metric(y_true, y_pred, tolerances, args.repeat)
            checked = check_replay(y_true, y_pred, games, tolerances, result, 3)
            print(
                f"{tolerances}: {args.n_resamples} resamples in {seconds:.2f} s, "
                f"CPU {cpu:.2f} s (best of {args.repeat}; one average_map_score "
                f"{metric:.3f} s); "
                f"average-mAP {100 * result.score:.2f}, 95% interval "
                f"[{100 * result.low:.2f}, {100 * result.high:.2f}]; "
                f"{checked} replayed resamples bit-identical"
            )
    widths(rng, args.games, args.n_resamples, args.false_alarms)


if __name__ == "__main__":
    main()
