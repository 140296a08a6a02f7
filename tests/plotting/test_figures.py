"""The report figures: return values, drawn content, no pyplot state."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sk_spotting.metrics import average_map_score, bootstrap_average_map
from sk_spotting.plotting import (
    matched_time_errors,
    plot_displacement_errors,
    plot_map_vs_tolerance,
    plot_per_class_ap,
    plot_timeline,
)


@pytest.fixture
def events():
    y_true = [
        pd.DataFrame({"time": [10.0, 50.0, 90.0], "label": ["Goal", "Foul", "Foul"]}),
        pd.DataFrame({"time": [20.0], "label": ["Goal"]}),
    ]
    y_pred = [
        pd.DataFrame(
            {
                "time": [11.0, 48.0, 52.0, 300.0],
                "label": ["Goal", "Foul", "Foul", "Goal"],
                "confidence": [0.9, 0.4, 0.8, 0.05],
            }
        ),
        pd.DataFrame({"time": [19.5], "label": ["Goal"], "confidence": [0.7]}),
    ]
    return y_true, y_pred


def _details(y_true, y_pred, tolerances):
    return average_map_score(y_true, y_pred, tolerances=tolerances, return_details=True)


def test_no_pyplot_figure_is_left_open(events):
    import matplotlib.pyplot as plt

    y_true, y_pred = events
    before = plt.get_fignums()
    ax = plot_timeline(y_true[0], y_pred[0])
    assert isinstance(ax, Axes) and isinstance(ax.figure, Figure)
    assert plt.get_fignums() == before


def test_map_vs_tolerance_draws_one_curve_per_evaluation(events, tmp_path):
    y_true, y_pred = events
    tolerances = list(range(1, 61))
    curves = {
        "model": _details(y_true, y_pred, tolerances),
        "shifted": _details(
            y_true, [p.assign(time=p["time"] + 4) for p in y_pred], tolerances
        ),
    }
    ax = plot_map_vs_tolerance(curves, title="t")
    assert [line.get_label() for line in ax.lines] == ["model", "shifted"]
    np.testing.assert_allclose(
        ax.lines[0].get_ydata(), 100 * curves["model"].map_per_tolerance
    )
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), tolerances)
    ax.figure.savefig(tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 1000


def test_map_vs_tolerance_draws_on_given_axes(events):
    y_true, y_pred = events
    figure = Figure()
    axes = figure.subplots(1, 2)
    ax = plot_map_vs_tolerance(_details(y_true, y_pred, [1.0, 5.0]), ax=axes[1])
    assert ax is axes[1] and len(ax.lines) == 1 and not axes[0].lines


def test_map_vs_tolerance_rejects_an_empty_mapping():
    with pytest.raises(ValueError, match="empty"):
        plot_map_vs_tolerance({})


def test_per_class_ap_bars(events):
    y_true, y_pred = events
    results = {t: _details(y_true, y_pred, t) for t in ("loose", "tight")}
    ax = plot_per_class_ap(results)
    widths = [bar.get_width() for bar in ax.patches]
    assert len(widths) == 4  # 2 classes x (loose, tight)
    expected = np.concatenate(
        [100 * results[t].average_ap_per_class for t in ("loose", "tight")]
    )
    np.testing.assert_allclose(widths, expected)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[0].startswith("loose (mAP") and labels[1].startswith("tight (mAP")


def test_per_class_ap_with_intervals(events):
    y_true, y_pred = events
    # four copies of the two videos: a resample can miss a class entirely
    y_true, y_pred = y_true * 4, y_pred * 4
    results = {t: _details(y_true, y_pred, t) for t in ("loose", "tight")}
    intervals = {
        t: bootstrap_average_map(
            y_true, y_pred, tolerances=t, n_resamples=50, random_state=0
        )
        for t in ("loose", "tight")
    }
    ax = plot_per_class_ap(results, intervals=intervals, title="AP")
    rows = [text.get_text() for text in ax.get_yticklabels()]
    assert rows == ["average-mAP", "Foul", "Goal"]
    widths = [bar.get_width() for bar in ax.patches]
    np.testing.assert_allclose(
        widths,
        np.concatenate(
            [
                100 * np.r_[results[t].average_map, results[t].average_ap_per_class]
                for t in ("loose", "tight")
            ]
        ),
    )
    # one error bar per bar, from the interval's low to its high
    segments = np.concatenate(
        [np.asarray(c.get_segments()) for c in ax.collections if c.get_segments()]
    )
    assert len(segments) == 6
    for t, rows_of in zip(("loose", "tight"), (segments[:3], segments[3:])):
        low = np.r_[intervals[t].low, intervals[t].per_class["low"]]
        high = np.r_[intervals[t].high, intervals[t].per_class["high"]]
        np.testing.assert_allclose(rows_of[:, 0, 0], 100 * low)
        np.testing.assert_allclose(rows_of[:, 1, 0], 100 * high)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[0].startswith("loose (mAP") and "95% interval" in labels[0]
    # the legend, under the axes, covers no bar
    ax.figure.draw_without_rendering()
    legend = ax.get_legend().get_window_extent()
    assert not any(legend.overlaps(bar.get_window_extent()) for bar in ax.patches)


def test_per_class_ap_intervals_must_match(events):
    y_true, y_pred = events
    results = {t: _details(y_true, y_pred, t) for t in ("loose", "tight")}
    loose = bootstrap_average_map(y_true, y_pred, n_resamples=5, random_state=0)
    with pytest.raises(ValueError, match=r"same names as evaluations"):
        plot_per_class_ap(results, intervals={"loose": loose})
    with pytest.raises(ValueError, match=r"intervals\['tight'\] has score"):
        plot_per_class_ap(results, intervals={"loose": loose, "tight": loose})
    # one evaluation, one interval
    ax = plot_per_class_ap(results["loose"], intervals=loose)
    assert ax.get_yticklabels()[0].get_text() == "average-mAP"


def test_timeline_filters_low_confidences(events):
    y_true, y_pred = events
    ax = plot_timeline(
        y_true[0],
        y_pred[0],
        classes=["Goal", "Foul", "Corner"],
        duration=600.0,
        min_confidence=0.3,
    )
    detections, truth = ax.collections[:2]
    assert len(detections.get_offsets()) == 3  # the 0.05 detection is hidden
    assert len(truth.get_offsets()) == 3
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Goal", "Foul", "Corner"]
    assert ax.get_xlim() == (0.0, 10.0)


def test_matched_time_errors_follow_the_metric_rule(events):
    y_true, y_pred = events
    # Foul at 50 takes the more confident 52 (not the nearer 48); Foul at 90
    # has nothing within 5 s; the Goal 300 s detection matches nothing.
    errors = matched_time_errors(y_true, y_pred, tolerance=10.0)
    assert sorted(errors.tolist()) == [-0.5, 1.0, 2.0]
    assert (
        matched_time_errors(y_true, y_pred, tolerance=10.0, classes=["Goal"]).size == 2
    )
    # A detection is taken once: the second Foul gets 48 only in a wide window.
    wide = matched_time_errors(y_true, y_pred, tolerance=90.0, classes=["Foul"])
    assert sorted(wide.tolist()) == [-42.0, 2.0]


def test_displacement_errors_histogram(events):
    y_true, y_pred = events
    ax = plot_displacement_errors(
        y_true, {"a": y_pred, "b": y_pred}, tolerance=10.0, bin_width=0.5
    )
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[0].startswith("a: 3 matches") and labels[1].startswith("b: 3")
    assert ax.get_xlim() == (-5.5, 5.5)


def _peaked_errors(n_sets):
    """Many matches with errors peaked at 0 (the demo's case: tall central bars)."""
    rng = np.random.default_rng(0)
    times = np.sort(rng.uniform(0, 2700, 300))
    y_true = [pd.DataFrame({"time": times, "label": "Goal"})]
    sets = {
        f"set {i}": [
            pd.DataFrame(
                {
                    "time": times + rng.normal(0, 0.3 + i, len(times)),
                    "label": "Goal",
                    "confidence": rng.uniform(size=len(times)),
                }
            )
        ]
        for i in range(n_sets)
    }
    return y_true, sets if n_sets > 1 else sets["set 0"]


@pytest.mark.parametrize("n_sets", [1, 2, 3])
def test_displacement_errors_legend_covers_no_bar(n_sets):
    ax = plot_displacement_errors(*_peaked_errors(n_sets), title="errors")
    ax.figure.draw_without_rendering()  # runs the constrained layout
    legend = ax.get_legend().get_window_extent()
    assert len(ax.patches) == n_sets  # one outline per set of detections
    for patch in ax.patches:
        assert not legend.overlaps(patch.get_window_extent())
    # nor the axis label, the tick labels or the title, and it is on the figure
    for text in [ax.xaxis.label, ax.title, *ax.get_xticklabels()]:
        if text.get_text():
            assert not legend.overlaps(text.get_window_extent())
    assert ax.figure.bbox.contains(legend.x0, legend.y0)
    assert ax.figure.bbox.contains(legend.x1, legend.y1)
