"""Feedback while training: the long-fit warning, the step bar, the schedule."""

import warnings

import pytest

from sk_spotting import DenseAnchorSpotter
from sk_spotting.datasets import make_spotting_data
from sk_spotting.training import _progress
from sk_spotting.training._progress import (
    DurationEstimate,
    FitProgress,
    StepProgress,
    format_duration,
)

from .._tiny import TINY


@pytest.fixture(scope="module")
def data():
    X, y = make_spotting_data(4, n_features=8, minutes=1.5, random_state=5)
    classes = sorted({label for table in y for label in table["label"]})
    return X, y, classes


class FakeClock:
    def __init__(self, step_seconds):
        self.now = 0.0
        self.step_seconds = step_seconds

    def __call__(self):
        self.now += self.step_seconds
        return self.now


def _steps(estimate, n):
    for _ in range(n):
        estimate.on_batch_end(None, training=True)


def test_long_cpu_fit_warns_once_with_estimate_and_advice():
    estimate = DurationEstimate(
        64_000, "cpu", advice="Use fewer epochs.", clock=FakeClock(11.0)
    )
    with pytest.warns(UserWarning) as record:
        _steps(estimate, 10)
    assert len(record) == 1
    message = str(record[0].message)
    assert "8.1 days more on the CPU" in message
    assert "64,000 steps at 11.00 s per step" in message
    assert message.endswith("Use fewer epochs.")
    assert estimate.estimate_ == pytest.approx(64_000 * 11.0)


@pytest.mark.parametrize(
    "device, seconds, total", [("cuda", 11.0, 64_000), ("cpu", 0.01, 64_000)]
)
def test_no_warning_on_gpu_or_for_short_fits(device, seconds, total):
    estimate = DurationEstimate(total, device, advice="", clock=FakeClock(seconds))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _steps(estimate, 10)
    assert estimate.estimate_ == pytest.approx(total * seconds)


def test_a_slow_first_step_estimates_after_fewer_steps():
    estimate = DurationEstimate(100, "cpu", advice="", clock=FakeClock(30.0))
    with pytest.warns(UserWarning, match="49 min more"):
        _steps(estimate, 2)  # warm-up, then one 30-s step exceeds the timing limit


def test_the_estimator_warns_python_users(data, monkeypatch):
    X, y, _ = data
    monkeypatch.setattr(_progress, "LONG_FIT_SECONDS", 0.0)
    with pytest.warns(UserWarning, match="more on the CPU") as record:
        DenseAnchorSpotter(**{**TINY, "epochs": 4}).fit(X[:2], y[:2])
    assert len(record) == 1
    assert "epochs" in str(record[0].message)
    assert "GPU" in str(record[0].message)


def test_default_fit_is_quiet_below_the_threshold(data, capsys):
    X, y, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DenseAnchorSpotter(**TINY).fit(X[:2], y[:2])
    assert capsys.readouterr().err == ""


def test_bar_moves_per_step_and_shows_the_validation_score(data, capsys):
    X, y, classes = data
    DenseAnchorSpotter(**TINY, classes=classes, validation_interval=1, verbose=1).fit(
        X[:2], y[:2], X_valid=X[2:], y_valid=y[2:]
    )
    err = capsys.readouterr().err
    assert "8/8" in err  # 2 networks x 2 epochs x 2 steps
    assert "valid mAP=" in err
    assert "displacement" in err


def test_step_progress_reads_the_score_written_after_it():
    class Net:
        max_epochs = 3
        history = [{"train_loss": 0.5}]

    progress = FitProgress(3, disable=True)
    callback = StepProgress(progress, "confidence")
    callback.on_train_begin(Net)
    Net.history[-1]["valid_average_map"] = 0.25  # recorded by ValidationScore
    callback.on_epoch_end(Net)
    assert progress._bar.postfix == "valid mAP=0.2500, epoch=1/3, loss=0.5"
    progress.close()


def test_format_duration():
    assert format_duration(59) == "59 s"
    assert format_duration(600) == "10 min"
    assert format_duration(86_400 * 3) == "3.0 days"


@pytest.mark.parametrize("decay_epochs, expected", [(None, 0.01), (100, 0.9802)])
def test_decay_horizon(data, decay_epochs, expected):
    X, y, _ = data
    spotter = DenseAnchorSpotter(**TINY, decay_epochs=decay_epochs).fit(X[:2], y[:2])
    for net in (spotter.confidence_net_, spotter.displacement_net_):
        group = net.optimizer_.param_groups[0]
        assert group["lr"] / group["initial_lr"] == pytest.approx(expected, abs=1e-4)


def test_the_displacement_network_is_selected_with_its_own_nms_window(
    data, monkeypatch
):
    X, y, classes = data
    windows = []
    original = DenseAnchorSpotter._decode

    def spy(self, confidence, displacement, nms_window=None):
        windows.append((displacement is not None, nms_window))
        return original(self, confidence, displacement, nms_window)

    monkeypatch.setattr(DenseAnchorSpotter, "_decode", spy)
    DenseAnchorSpotter(
        **TINY, classes=classes, validation_interval=2, nms_window=15.0
    ).fit(X[:2], y[:2], X_valid=X[2:], y_valid=y[2:])
    assert {w for has_d, w in windows if has_d} == {3.0}
    assert {w for has_d, w in windows if not has_d} == {None}  # nms_window=15
