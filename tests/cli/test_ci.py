"""``evaluate --ci`` and the report's intervals, on predictions written directly
(no model to fit)."""

import json

import numpy as np
import pandas as pd
import pytest

from sk_spotting.cli import main
from sk_spotting.datasets import (
    SOCCERNET_V2_CLASSES,
    load_soccernet,
    make_soccernet_tree,
    write_soccernet_predictions,
)
from sk_spotting.metrics import average_map_score, bootstrap_average_map

from .conftest import N_FEATURES


def _noisy_copy(y, seed):
    """Every action found once, displaced, plus false alarms; random scores."""
    rng = np.random.default_rng(seed)
    tables = []
    for table in y:
        n = len(table)
        false = table.sample(n // 2, replace=True, random_state=seed)
        both = pd.concat([table[["time", "label"]], false[["time", "label"]]])
        both = both.assign(
            time=(both["time"] + rng.normal(0, 2, len(both))).clip(0, 119),
            confidence=rng.uniform(0, 1, len(both)),
        )
        tables.append(both.reset_index(drop=True))
    return tables


@pytest.fixture(scope="module")
def four_games(tmp_path_factory):
    """Four games of 2-minute halves and a results folder of predictions."""
    base = tmp_path_factory.mktemp("ci")
    make_soccernet_tree(
        base / "data", 4, n_features=N_FEATURES, minutes=2.0, random_state=5
    )
    _, y, meta = load_soccernet(base / "data")
    y_pred = _noisy_copy(y, 0)
    write_soccernet_predictions(y_pred, meta, base / "results")
    return base, y, y_pred, meta


def test_evaluate_ci_json_is_bootstrap_average_map(four_games, capsys):
    base, y, y_pred, meta = four_games
    code = main(
        [
            "evaluate",
            str(base / "data"),
            str(base / "results"),
            "--json",
            "--tolerances",
            "tight",
            "--ci",
            "--n-resamples",
            "200",
            "--confidence-level",
            "0.9",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    options = {"tolerances": "tight", "classes": SOCCERNET_V2_CLASSES}
    # the results files round-trip the predictions to the millisecond
    y_read = [t.assign(time=np.round(t["time"], 3)) for t in y_pred]
    expected = bootstrap_average_map(
        y,
        y_read,
        groups=meta["game"],
        n_resamples=200,
        confidence_level=0.9,
        random_state=0,
        **options,
    )
    assert data["average_map"] == average_map_score(y, y_read, **options)
    interval = data["confidence_interval"]
    assert interval["average_map"] == [expected.low, expected.high]
    assert (interval["n_resamples"], interval["n_groups"]) == (200, 4)
    assert interval["confidence_level"] == 0.9
    assert interval["average_ap_per_class"]["Goal"] == (
        expected.per_class.loc["Goal", ["low", "high"]].tolist()
    )
    assert expected.low < expected.high  # the games do differ


def test_evaluate_ci_prints_the_interval(four_games, capsys):
    base, *_ = four_games
    args = ["evaluate", str(base / "data"), str(base / "results")]
    assert main(args + ["--ci", "--n-resamples", "50"]) == 0
    out = capsys.readouterr().out
    assert "95% bootstrap interval: " in out
    assert "(50 resamples of 4 games)" in out
    assert "AP low" in out and "AP high" in out
    # without --ci, no interval
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "interval" not in out and "AP low" not in out


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--ci", "--n-resamples", "0"], "--ci needs --n-resamples of at least 1"),
        (["--ci", "--n-resamples", "many"], "expected an integer >= 0"),
        (["--ci", "--confidence-level", "95"], "expected a number in (0, 1)"),
    ],
)
def test_evaluate_ci_bad_options(four_games, capsys, extra, needle):
    base, *_ = four_games
    code = main(["evaluate", str(base / "data"), str(base / "results"), *extra])
    assert code == 2
    assert needle in capsys.readouterr().err


def test_report_shows_intervals(four_games, tmp_path):
    base, *_ = four_games
    out = tmp_path / "report"
    args = ["report", str(base / "data"), str(base / "results"), "--out", str(out)]
    assert main(args + ["--n-resamples", "50", "--max-videos", "1"]) == 0
    page = (out / "index.html").read_text()
    assert "95% bootstrap percentile intervals, 50 resamples of the 4 games" in page
    assert "loose 95% interval" in page and "tight low" in page
    assert main(args + ["--n-resamples", "0", "--max-videos", "1", "--overwrite"]) == 0
    page = (out / "index.html").read_text()
    assert "No bootstrap intervals (0 resamples)" in page
    assert "loose 95% interval" not in page
