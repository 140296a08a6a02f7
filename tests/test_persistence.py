"""save_spotter / load_spotter: round trips, and files that must be refused."""

import json
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline

from sk_spotting import DenseAnchorSpotter, __version__, load_spotter, save_spotter
from sk_spotting._persistence import (
    FORMAT_VERSION,
    _decode,
    _encode,
    _Unsaved,
    describe_file,
)
from sk_spotting.datasets import SOCCERNET_V2_CLASSES, make_spotting_data

from ._tiny import TINY


@pytest.fixture(scope="module")
def data():
    X, y = make_spotting_data(3, n_features=12, minutes=2.0, random_state=3)
    return X, y


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    spotter = DenseAnchorSpotter(
        **TINY, validation_interval=1, classes=SOCCERNET_V2_CLASSES
    )
    return spotter.fit(X[:2], y[:2], X_valid=X[2:], y_valid=y[2:])


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    return save_spotter(fitted, tmp_path_factory.mktemp("saved") / "s.safetensors")


def _assert_same_predictions(a, b, X):
    for sa, sb in zip(a.predict_scores(X), b.predict_scores(X)):
        np.testing.assert_array_equal(sa.confidence, sb.confidence)
        if sa.displacement is None:
            assert sb.displacement is None
        else:
            np.testing.assert_array_equal(sa.displacement, sb.displacement)
    for ea, eb in zip(a.predict(X), b.predict(X)):
        pd.testing.assert_frame_equal(ea, eb)


def _same_params(a, b):
    pa, pb = a.get_params(deep=False), b.get_params(deep=False)
    assert set(pa) == set(pb)
    for key in pa:
        if isinstance(pa[key], np.ndarray):
            np.testing.assert_array_equal(pa[key], pb[key])
            assert pa[key].dtype == pb[key].dtype
        else:
            assert pa[key] == pb[key], key
            assert type(pa[key]) is type(pb[key]), key


def _parts(path):
    """(tensors, metadata, document) of a saved file."""
    data = Path(path).read_bytes()
    n_header = int.from_bytes(data[:8], "little")
    metadata = json.loads(data[8 : 8 + n_header])["__metadata__"]
    return load_tensors(data), metadata, json.loads(metadata["spotter"])


def _rewrite(path, out, *, document=None, metadata=None, tensors=None):
    """Write ``out`` from ``path`` with some parts replaced."""
    old_tensors, old_metadata, old_document = _parts(path)
    metadata = dict(old_metadata if metadata is None else metadata)
    if document is not None:
        metadata["spotter"] = json.dumps(document)
    tensors = old_tensors if tensors is None else tensors
    Path(out).write_bytes(save_tensors(tensors, metadata=metadata))
    return out


# --------------------------------------------------------------------------
# round trips
# --------------------------------------------------------------------------


def test_round_trip_predicts_bit_identically(fitted, saved, data):
    X, _ = data
    loaded = load_spotter(saved)
    assert isinstance(loaded, DenseAnchorSpotter)
    _assert_same_predictions(fitted, loaded, X)
    _same_params(fitted, loaded)
    assert list(loaded.classes_) == list(fitted.classes_)
    assert loaded.classes_.dtype == object
    assert loaded.n_features_in_ == fitted.n_features_in_ == 12


def test_history_is_restored_for_reports(fitted, saved):
    loaded = load_spotter(saved)
    for name in ("confidence_net_", "displacement_net_"):
        assert getattr(loaded, name).history.to_list() == (
            getattr(fitted, name).history.to_list()
        )
    assert loaded.confidence_net_.history[-1, "best_epoch"] >= 1


def test_saving_a_loaded_spotter_gives_the_same_content(saved, tmp_path):
    # (safetensors orders the metadata keys arbitrarily, so not the same bytes)
    again = save_spotter(load_spotter(saved), tmp_path / "again.safetensors")
    tensors, metadata, _ = _parts(saved)
    tensors_again, metadata_again, _ = _parts(again)
    assert metadata_again == metadata
    assert tensors_again.keys() == tensors.keys()
    assert all(torch.equal(tensors[k], tensors_again[k]) for k in tensors)


def test_file_records_versions_and_is_plain_safetensors(fitted, saved):
    tensors, metadata, document = _parts(saved)
    assert metadata["format"] == "sk_spotting.spotter"
    assert metadata["format_version"] == str(FORMAT_VERSION)
    assert document["library_version"] == __version__
    assert document["n_features_in_"] == 12
    assert set(tensors) == {
        f"{head}.{key}"
        for head in ("confidence", "displacement")
        for key in getattr(fitted, f"{head}_net_").module_.state_dict()
    }


def test_loading_keeps_the_global_random_state(saved):
    before = torch.get_rng_state()
    load_spotter(saved)
    assert torch.equal(before, torch.get_rng_state())


def test_without_displacement(data, tmp_path):
    X, y = data
    spotter = DenseAnchorSpotter(**TINY, use_displacement=False).fit(X, y)
    loaded = load_spotter(save_spotter(spotter, tmp_path / "s.safetensors"))
    assert loaded.displacement_net_ is None
    _assert_same_predictions(spotter, loaded, X[:1])


def test_parameters_of_every_json_type_round_trip(fitted, tmp_path, data):
    X, _ = data
    spotter = DenseAnchorSpotter(**TINY).set_params(
        classes=np.asarray(fitted.classes_, dtype=object),
        nms_window={c: 4.0 + i for i, c in enumerate(fitted.classes_)},
        checkpoint_dir=tmp_path / "checkpoints",
        device=torch.device("cpu"),
        compile=False,
        epochs=np.int64(1),
    )
    spotter.fit(*data)
    loaded = load_spotter(save_spotter(spotter, tmp_path / "s.safetensors"))
    params = loaded.get_params()
    assert isinstance(params["classes"], np.ndarray)
    assert params["nms_window"] == spotter.nms_window
    assert params["checkpoint_dir"] == str(tmp_path / "checkpoints")
    assert params["device"] == torch.device("cpu")
    assert params["epochs"] == 1 and type(params["epochs"]) is int
    _assert_same_predictions(spotter, loaded, X[:1])


@pytest.mark.parametrize(
    "value",
    [None, True, 3, 2.5, float("inf"), "unet", [1, "a"], (1, (2.0, None)),
     {"a": {"b": [1]}}, np.asarray(["x", "y"], dtype=object),
     np.asarray([1.5, 2.0]), torch.device("cpu")],
    ids=repr,
)  # fmt: skip
def test_value_encoding_round_trips(value):
    text = json.dumps(_encode(value))
    back = _decode(json.loads(text))
    if isinstance(value, np.ndarray):
        np.testing.assert_array_equal(back, value)
        assert back.dtype == value.dtype
    else:
        assert back == value and type(back) is type(value)


def test_objects_are_not_saved_and_load_as_defaults(data, tmp_path):
    X, y = data
    spotter = DenseAnchorSpotter(**TINY).fit(X, y)
    spotter.set_params(random_state=np.random.RandomState(0))
    with pytest.warns(UserWarning, match=r"random_state \(a numpy.*loads as None"):
        path = save_spotter(spotter, tmp_path / "s.safetensors")
    loaded = load_spotter(path)
    assert loaded.random_state is None
    assert _parts(path)[2]["unsaved_params"] == ["random_state"]
    _assert_same_predictions(spotter, loaded, X[:1])
    with pytest.raises(_Unsaved):
        _encode([1, object()])


def test_a_parameter_added_later_takes_its_default(saved, tmp_path):
    # A file from a version without ``compile`` loads; compile gets its default.
    _, _, document = _parts(saved)
    del document["params"]["compile"]
    path = _rewrite(saved, tmp_path / "old.safetensors", document=document)
    assert load_spotter(path).compile is False


def test_save_refuses_what_is_not_a_fitted_spotter(fitted, tmp_path):
    with pytest.raises(TypeError, match="DenseAnchorSpotter"):
        save_spotter(make_pipeline(fitted), tmp_path / "p.safetensors")
    with pytest.raises(NotFittedError):
        save_spotter(DenseAnchorSpotter(), tmp_path / "u.safetensors")
    assert not list(tmp_path.iterdir())


def test_save_is_atomic(fitted, saved, tmp_path, monkeypatch):
    import sk_spotting._persistence as persistence

    path = tmp_path / "s.safetensors"
    path.write_bytes(saved.read_bytes())

    def broken_write(target, data):
        def half(stream):
            stream.write(data[: len(data) // 2])
            raise KeyboardInterrupt

        return real(target, half)

    real = persistence.atomic_write
    monkeypatch.setattr(persistence, "atomic_write", broken_write)
    with pytest.raises(KeyboardInterrupt):
        save_spotter(fitted, path)
    assert path.read_bytes() == saved.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["s.safetensors"]


def test_spotter_saved_for_cuda_loads_on_cpu(
    fitted, saved, tmp_path, data, monkeypatch
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    X, _ = data
    _, _, document = _parts(saved)
    document["params"]["device"] = "cuda"
    path = _rewrite(saved, tmp_path / "cuda.safetensors", document=document)
    with pytest.warns(UserWarning, match="CUDA is not available"):
        loaded = load_spotter(path)
    assert loaded.device == "cpu"  # said in the warning
    for net in (loaded.confidence_net_, loaded.displacement_net_):
        assert {p.device.type for p in net.module_.parameters()} == {"cpu"}
    _assert_same_predictions(fitted, loaded, X[:1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_spotter(path, device="cpu").device == "cpu"


# --------------------------------------------------------------------------
# refusals: one line naming the file and what is wrong
# --------------------------------------------------------------------------


def _refused(path, match):
    """The one-line message refusing ``path``, which names it and matches."""
    with pytest.raises(ValueError) as info:
        load_spotter(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert re.search(match, message.replace(str(path), "<path>")), message
    return message


@pytest.mark.parametrize("keep", [0, 5, 8, 100, -1], ids=lambda k: f"keep{k}")
def test_cut_file(saved, tmp_path, keep):
    data = saved.read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[:keep] if keep >= 0 else data[:-1])
    _refused(path, "' is truncated")


def test_newer_format_version(saved, tmp_path):
    _, metadata, _ = _parts(saved)
    metadata["format_version"] = str(FORMAT_VERSION + 1)
    path = _rewrite(saved, tmp_path / "new.safetensors", metadata=metadata)
    message = _refused(path, "format version 2")
    assert f"sk_spotting {__version__}" in message and "upgrade" in message


def test_unknown_old_format_version_names_its_maker(saved, tmp_path):
    _, metadata, document = _parts(saved)
    metadata["format_version"] = "0"
    document["library_version"] = "0.0.1"
    metadata["spotter"] = json.dumps(document)
    path = _rewrite(saved, tmp_path / "old.safetensors", metadata=metadata)
    _refused(path, "version 0 .*sk_spotting 0.0.1")


def test_parameter_unknown_to_this_version_names_the_maker(saved, tmp_path):
    _, _, document = _parts(saved)
    document["params"]["warp_drive"] = 9
    document["library_version"] = "9.9"
    path = _rewrite(saved, tmp_path / "odd.safetensors", document=document)
    _refused(path, r"sk_spotting 9.9 with parameter\(s\) \['warp_drive'\]")


def test_safetensors_file_of_another_library(tmp_path):
    path = tmp_path / "other.safetensors"
    path.write_bytes(save_tensors({"weight": torch.ones(3)}, metadata={"a": "b"}))
    _refused(path, "another library")


def test_torch_zip_and_random_bytes(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"weight": torch.ones(3)}, path)
    _refused(path, "zip archive")
    path = tmp_path / "noise.safetensors"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    _refused(path, "not an sk_spotting model file")


class _Payload:
    """Unpickling this creates ``marker``: the code a crafted pickle runs."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_crafted_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code_ran"
    for name in ("model.joblib", "model.safetensors"):
        path = tmp_path / name
        path.write_bytes(pickle.dumps(_Payload(marker)))
        _refused(path, "a pickle")
        assert not marker.exists()
    pickle.loads((tmp_path / "model.joblib").read_bytes())  # the payload is real
    assert marker.exists()


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda d: d.pop("classes_"), "missing 'classes_'"),
        (lambda d: d.update(n_features_in_="12"), "'n_features_in_' must be a"),
        (lambda d: d.update(classes_=["a", "a"]), "duplicates"),
        (lambda d: d["networks"].pop("displacement"), "'networks'"),
        (lambda d: d["networks"]["confidence"].update(history=3), "history"),
        (lambda d: d.update(estimator="Other"), "holds a 'Other'"),
        (lambda d: d["params"].update(epochs=-1), "bad saved parameters"),
        (lambda d: d["params"].update(nms_window={"$weird": 1}), "unreadable"),
        (lambda d: d["params"].update(device={"$device": "warp"}), "bad saved"),
        (lambda d: d["params"].update(use_displacement=False), "displacement"),
    ],
    ids=[
        "missing-key",
        "wrong-type",
        "duplicate-classes",
        "networks",
        "history",
        "estimator",
        "bad-parameter",
        "unknown-tag",
        "bad-device",
        "use-displacement",
    ],
)
def test_malformed_description(saved, tmp_path, change, match):
    _, _, document = _parts(saved)
    change(document)
    path = _rewrite(saved, tmp_path / "bad.safetensors", document=document)
    _refused(path, match)


def test_tensors_must_match_the_rebuilt_networks(saved, tmp_path):
    tensors, _, document = _parts(saved)
    document["n_features_in_"] = 13
    path = _rewrite(saved, tmp_path / "shape.safetensors", document=document)
    _refused(path, r"tensor 'confidence\..*shape")
    # absurd sizes are refused before any memory is allocated for them
    document["n_features_in_"] = 10**12
    path = _rewrite(saved, tmp_path / "huge.safetensors", document=document)
    _refused(path, "the confidence network's tensors do not match|shape")
    extra = {**tensors, "confidence.extra": torch.zeros(1)}
    path = _rewrite(saved, tmp_path / "extra.safetensors", tensors=extra)
    _refused(path, "unexpected")
    name = next(iter(tensors))
    fewer = {k: v for k, v in tensors.items() if k != name}
    path = _rewrite(saved, tmp_path / "fewer.safetensors", tensors=fewer)
    _refused(path, "missing")
    half = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    path = _rewrite(saved, tmp_path / "dtype.safetensors", tensors=half)
    _refused(path, "float16")


def test_missing_path_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_spotter(tmp_path / "none.safetensors")
    with pytest.raises(ValueError, match="is not a file"):
        load_spotter(tmp_path)


def test_a_header_size_that_looks_like_a_pickle_is_still_safetensors():
    # 66,688 bytes of header: the size starts with the bytes of pickle protocol 4
    start = (66_688).to_bytes(8, "little") + b"{"
    assert start[:2] == b"\x80\x04" and describe_file(start) is None
    assert describe_file(start[:8] + b"\x95") == "a pickle (joblib.dump or pickle.dump)"
