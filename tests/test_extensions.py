"""The seams others build on: registered trunks, skorch callbacks, devices."""

import pickle

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback, GradientNormClipping
from torch import nn

from sk_spotting import DenseAnchorSpotter
from sk_spotting.datasets import make_spotting_data
from sk_spotting.nn import register_trunk, unregister_trunk
from sk_spotting.training import ConfidenceCriterion, SpottingNet

TINY = {
    "chunk_duration": 16.0,
    "epochs": 2,
    "chunks_per_epoch": 16,
    "batch_size": 8,
    "random_state": 0,
}


class GRUTrunk(nn.Module):
    """A third-party trunk: a bidirectional GRU over the frames."""

    def __init__(self, n_features_in, hidden):
        super().__init__()
        self.gru = nn.GRU(n_features_in, hidden, batch_first=True, bidirectional=True)
        self.n_features_out = 2 * hidden

    def forward(self, x):  # (b, d, t) -> (b, 2 hidden, t)
        return self.gru(x.transpose(1, 2))[0].transpose(1, 2)


def gru_trunk(*, n_features_in: int, n_frames: int, hidden: int = 8) -> nn.Module:
    return GRUTrunk(n_features_in, hidden)


@pytest.fixture(scope="module")
def gru():
    register_trunk("test-gru")(gru_trunk)
    yield "test-gru"
    unregister_trunk("test-gru")


@pytest.fixture(scope="module")
def data():
    return make_spotting_data(4, n_features=10, minutes=1.5, random_state=2)


@pytest.fixture(scope="module")
def classes(data):
    return sorted({label for table in data[1] for label in table["label"]})


# ------------------------------------------------------------------- trunks
def test_a_registered_trunk_fits_predicts_clones_and_pickles(gru, data):
    from sklearn.base import clone

    X, y = data
    spotter = DenseAnchorSpotter(gru, trunk_params={"hidden": 6}, **TINY)
    spotter.fit(X[:3], y[:3])
    trunk = spotter.confidence_net_.module_.trunk
    assert isinstance(trunk, GRUTrunk) and trunk.n_features_out == 12
    events = spotter.predict(X[3:])
    assert list(events[0].columns) == ["time", "label", "confidence"]
    again = clone(spotter).fit(X[:3], y[:3])
    np.testing.assert_array_equal(
        again.predict_scores(X[3:])[0].confidence,
        spotter.predict_scores(X[3:])[0].confidence,
    )
    restored = pickle.loads(pickle.dumps(spotter))
    np.testing.assert_array_equal(
        restored.predict_scores(X[3:])[0].displacement,
        spotter.predict_scores(X[3:])[0].displacement,
    )


def test_a_registered_trunk_saves_and_loads_safely(gru, data, tmp_path):
    from sk_spotting import load_spotter, save_spotter

    X, y = data
    spotter = DenseAnchorSpotter(gru, trunk_params={"hidden": 6}, **TINY)
    spotter.fit(X[:3], y[:3])
    path = save_spotter(spotter, tmp_path / "gru.safetensors")
    loaded = load_spotter(path)
    assert loaded.trunk == gru and loaded.trunk_params == {"hidden": 6}
    for a, b in zip(loaded.predict_scores(X[3:]), spotter.predict_scores(X[3:])):
        np.testing.assert_array_equal(a.confidence, b.confidence)
        np.testing.assert_array_equal(a.displacement, b.displacement)


def test_trunk_params_reach_the_builtin_trunks(data):
    X, y = data
    spotter = DenseAnchorSpotter(
        "transformer", trunk_params={"size": "small"}, **{**TINY, "epochs": 1}
    ).fit(X[:2], y[:2])
    assert spotter.confidence_net_.module_.trunk.n_features_out == 128
    spotter = DenseAnchorSpotter(trunk_params={"n_levels": 2}, **TINY)
    spotter.fit(X[:2], y[:2])
    assert spotter.confidence_net_.module_.trunk.n_levels == 2


@pytest.mark.parametrize(
    "params, message",
    [
        ({"trunk": "resnet"}, r"Unknown trunk 'resnet'; available trunks: \["),
        (
            {"trunk_params": {"n_level": 2}},
            r"trunk_params has \['n_level'\], which the 'unet' trunk's builder "
            r"does not take; it takes \['n_levels'\]",
        ),
        ({"trunk_params": {"n_frames": 8}}, "cannot set"),
        (
            {"trunk_params": {"n_levels": 2}, "unet_levels": 3},
            "'n_levels' is given twice",
        ),
    ],
)
def test_bad_trunks_fail_before_training(data, params, message):
    X, y = data
    with pytest.raises(ValueError, match=message):
        DenseAnchorSpotter(**{**TINY, **params}).fit(X[:2], y[:2])


def test_unknown_trunk_params_name_the_custom_builders_keys(gru, data):
    X, y = data
    with pytest.raises(ValueError, match=r"it takes \['hidden'\]"):
        DenseAnchorSpotter(gru, trunk_params={"width": 3}, **TINY).fit(X, y)


# ---------------------------------------------------------------- callbacks
class Recorder(Callback):
    def __init__(self):
        self.epochs = []
        self.scores = []
        self.gradients = 0

    def on_epoch_end(self, net, **kwargs):
        self.epochs.append(len(net.history))
        if "valid_average_map" in net.history[-1]:
            self.scores.append(net.history[-1]["valid_average_map"])

    def on_grad_computed(self, net, named_parameters, **kwargs):
        self.gradients += 1


def test_user_callbacks_see_every_epoch_step_and_validation(data, classes):
    X, y = data
    recorder = Recorder()
    spotter = DenseAnchorSpotter(
        **TINY, classes=classes, validation_interval=1, callbacks=[recorder]
    )
    spotter.fit(X[:2], y[:2], X_valid=X[2:], y_valid=y[2:])
    # both networks, 2 epochs each, a validation score at each epoch
    assert recorder.epochs == [1, 2, 1, 2]
    assert len(recorder.scores) == 4 and all(0 <= s <= 1 for s in recorder.scores)
    assert recorder.gradients == 2 * 2 * 2  # networks x epochs x steps
    assert spotter.confidence_net_.callbacks_[-1] == ("Recorder", recorder)


def test_callbacks_per_network(data):
    X, y = data
    first, second = Recorder(), Recorder()
    spotter = DenseAnchorSpotter(
        **TINY, callbacks={"confidence": [("mine", first)], "displacement": [second]}
    ).fit(X[:2], y[:2])
    assert first.epochs == [1, 2] and second.epochs == [1, 2]
    assert dict(spotter.confidence_net_.callbacks_)["mine"] is first


@pytest.mark.parametrize(
    "callbacks, error, message",
    [
        ([object()], TypeError, "not a skorch.callbacks.Callback"),
        ([("progress", Recorder())], ValueError, "taken by the library"),
        ([Recorder(), Recorder()], ValueError, "two callbacks are named"),
        ({"confidense": []}, ValueError, "takes the keys"),
    ],
)
def test_bad_callbacks_fail_before_training(data, callbacks, error, message):
    X, y = data
    with pytest.raises(error, match=message):
        DenseAnchorSpotter(**TINY, callbacks=callbacks).fit(X, y)


@pytest.mark.parametrize("sam_rho", [0.0, 0.05])
def test_gradient_norm_clipping_changes_the_update(sam_rho):
    """skorch's GradientNormClipping acts on the gradient that is applied."""
    x = torch.randn(4, 6, 3, generator=torch.Generator().manual_seed(0))
    target = (x[..., :2] > 0).float()
    weight = torch.ones_like(target)

    def step(callbacks):
        torch.manual_seed(0)
        net = SpottingNet(
            nn.Linear(3, 2),
            criterion=ConfidenceCriterion(),
            sam_rho=sam_rho,
            optimizer=torch.optim.SGD,
            lr=1.0,
            callbacks=callbacks,
        ).initialize()
        before = [p.detach().clone() for p in net.module_.parameters()]
        net.train_step((x, target, weight))
        after = [p.detach() for p in net.module_.parameters()]
        return torch.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(after, before)))

    free = step([])
    clipped = step([GradientNormClipping(gradient_clip_value=1e-3)])
    assert float(free) > 1e-2
    assert float(clipped) == pytest.approx(1e-3, rel=1e-4)


# ------------------------------------------------------------------ devices
@pytest.mark.parametrize("device", ["gpu", "cuda", "cuda:3", "tpu"])
def test_unavailable_devices_fail_early_listing_the_available(
    data, monkeypatch, device
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    X, y = data
    with pytest.raises(ValueError, match=r"available here: auto, cpu") as info:
        DenseAnchorSpotter(**TINY, device=device).fit(X, y)
    assert repr(device) in str(info.value)


def test_a_registered_trunk_tunes_in_turn(gru, data, classes):
    from sk_spotting.model_selection import tune_in_turn

    X, y = data
    spotter = DenseAnchorSpotter(
        gru, trunk_params={"hidden": 4}, classes=classes, **TINY
    )
    result = tune_in_turn(
        spotter,
        X[:2],
        y[:2],
        X_valid=X[2:],
        y_valid=y[2:],
        params=["learning_rate"],
        search_spaces={"learning_rate": [1e-3, 3e-3]},
        n_trials_per_param=2,
        random_state=0,
    )
    assert result.best_params["learning_rate"] in (1e-3, 3e-3)
    assert isinstance(result.best_estimator.confidence_net_.module_.trunk, GRUTrunk)


def test_loading_a_spotter_whose_trunk_is_not_registered_says_so(data, tmp_path):
    from sk_spotting import load_spotter, save_spotter

    X, y = data
    register_trunk("test-gru-gone")(gru_trunk)
    try:
        spotter = DenseAnchorSpotter("test-gru-gone", **{**TINY, "epochs": 1})
        path = save_spotter(spotter.fit(X[:2], y[:2]), tmp_path / "m.safetensors")
    finally:
        unregister_trunk("test-gru-gone")
    with pytest.raises(ValueError, match="Unknown trunk 'test-gru-gone'; available"):
        load_spotter(path)
