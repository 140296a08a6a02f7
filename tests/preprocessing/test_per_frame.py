"""PerFrame: per-frame transformers in spotting pipelines."""

import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn import config_context
from sklearn.base import clone
from sklearn.decomposition import PCA, IncrementalPCA
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.estimator_checks import (
    check_do_not_raise_errors_in_init_or_set_params,
    check_estimator_cloneable,
    check_estimator_repr,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
)

from sk_spotting import DenseAnchorSpotter
from sk_spotting.datasets import make_spotting_data
from sk_spotting.metrics import average_map_scorer
from sk_spotting.preprocessing import PerFrame, _per_frame

CLASSES = ("a", "b")
TINY = {
    "chunk_duration": 16.0,
    "unet_levels": 2,
    "epochs": 1,
    "chunks_per_epoch": 8,
    "batch_size": 8,
    "use_displacement": False,
    "classes": CLASSES,
    "random_state": 0,
}


@pytest.fixture(scope="module")
def data():
    return make_spotting_data(
        4, n_features=16, minutes=2.0, classes=CLASSES, random_state=0
    )


@pytest.fixture
def memmapped(tmp_path):
    """Eight memory-mapped videos of 20,000 frames x 64 float32 (41 MB)."""
    rng = np.random.default_rng(0)
    videos = []
    for i in range(8):
        path = tmp_path / f"video_{i}.npy"
        video = np.lib.format.open_memmap(
            path, mode="w+", dtype=np.float32, shape=(20_000, 64)
        )
        video[:] = rng.standard_normal((20_000, 64), dtype=np.float32) * (i + 1)
        video.flush()
        del video
        videos.append(np.load(path, mmap_mode="r"))
    return videos


@pytest.mark.parametrize(
    "check",
    [
        check_estimator_cloneable,
        check_estimator_repr,
        check_no_attributes_set_in_init,
        check_get_params_invariance,
        check_set_params,
        check_do_not_raise_errors_in_init_or_set_params,
    ],
)
def test_sklearn_data_free_checks(check):
    check("PerFrame", PerFrame(PCA(2)))


def test_tags_say_list_input():
    tags = PerFrame(StandardScaler()).__sklearn_tags__()
    assert tags.input_tags.two_d_array is False
    assert tags.target_tags.required is False
    assert tags.transformer_tags.preserves_dtype == ["float64", "float32"]


def test_pca_on_all_frames_equals_pca_on_stacked_frames(data):
    X, _ = data
    per_frame = PerFrame(PCA(4, random_state=0)).fit(X)
    stacked = PCA(4, random_state=0).fit(np.concatenate(X))
    assert per_frame.n_fit_frames_ == sum(len(v) for v in X)
    assert per_frame.n_features_in_ == 16
    for video, out in zip(X, per_frame.transform(X)):
        assert out.shape == (len(video), 4)
        assert_allclose(np.abs(out), np.abs(stacked.transform(video)), atol=1e-4)


def test_partial_fit_scaler_is_exact(data, monkeypatch):
    X, _ = data
    # blocks of 100 frames span videos (240 frames each), remainders merged
    monkeypatch.setattr(_per_frame, "PARTIAL_FIT_FRAMES", 100)
    scaler = PerFrame(StandardScaler()).fit(X)
    reference = StandardScaler().fit(np.concatenate(X))
    assert_allclose(scaler.transformer_.mean_, reference.mean_, rtol=1e-6)
    assert_allclose(scaler.transformer_.var_, reference.var_, rtol=1e-5)
    assert scaler.transformer_.n_samples_seen_ == 960


def test_partial_fit_blocks_are_never_short(data, monkeypatch):
    X, _ = data
    sizes = []

    class Recorder(IncrementalPCA):
        def partial_fit(self, X, y=None, check_input=True):
            sizes.append(len(X))
            return super().partial_fit(X, y, check_input=check_input)

    monkeypatch.setattr(_per_frame, "PARTIAL_FIT_FRAMES", 100)
    PerFrame(Recorder(3)).fit(X)
    assert sum(sizes) == 960
    assert 100 <= min(sizes) and max(sizes) < 200 and len(sizes) > 4


def test_sample_is_limited_and_reproducible(data):
    X, _ = data
    a = PerFrame(PCA(2), max_fit_frames=300, random_state=0).fit(X)
    b = PerFrame(PCA(2), max_fit_frames=300, random_state=0).fit(X)
    c = PerFrame(PCA(2), max_fit_frames=300, random_state=1).fit(X)
    assert a.n_fit_frames_ == 300
    assert_allclose(a.transformer_.mean_, b.transformer_.mean_)
    assert not np.allclose(a.transformer_.mean_, c.transformer_.mean_)


def test_explicit_max_fit_frames_also_limits_partial_fit(data):
    X, _ = data
    scaler = PerFrame(StandardScaler(), max_fit_frames=50, random_state=0).fit(X)
    assert scaler.n_fit_frames_ == 50 == scaler.transformer_.n_samples_seen_


@pytest.mark.parametrize(
    "transformer, kwargs",
    [(PCA(4), {"max_fit_frames": 2000, "random_state": 0}), (StandardScaler(), {})],
)
def test_memory_mapped_videos_are_not_copied(memmapped, transformer, kwargs):
    total = sum(v.nbytes for v in memmapped)
    tracemalloc.start()
    try:
        fitted = PerFrame(transformer, **kwargs).fit(memmapped)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert fitted.n_features_in_ == 64
    # the whole set is 41 MB; a stacked copy (float32 or float64) would show
    assert peak < total / 3, (peak, total)


def test_default_sample_size_without_partial_fit(memmapped, monkeypatch):
    monkeypatch.setattr(_per_frame, "DEFAULT_MAX_FIT_FRAMES", 1000)
    assert PerFrame(PCA(2), random_state=0).fit(memmapped).n_fit_frames_ == 1000
    # with partial_fit, every frame by default
    scaler = PerFrame(StandardScaler()).fit(memmapped)
    assert scaler.n_fit_frames_ == 160_000


def test_errors(data):
    X, _ = data
    with pytest.raises(NotFittedError):
        PerFrame(PCA(2)).transform(X)
    fitted = PerFrame(PCA(2)).fit(X)
    with pytest.raises(ValueError, match="features, expected 16 as seen during fit"):
        fitted.transform([np.zeros((10, 8))])
    with pytest.raises(TypeError, match="single 2-D array"):
        PerFrame(PCA(2)).fit(np.zeros((10, 3)))
    with pytest.raises(ValueError, match="transformer"):
        PerFrame("pca").fit(X)
    with pytest.raises(ValueError, match="max_fit_frames"):
        PerFrame(PCA(2), max_fit_frames=0).fit(X)


def test_feature_names_and_inverse_transform(data):
    X, _ = data
    pca = PerFrame(PCA(3)).fit(X)
    assert list(pca.get_feature_names_out()) == ["pca0", "pca1", "pca2"]
    back = pca.inverse_transform(pca.transform(X))
    assert [b.shape for b in back] == [v.shape for v in X]
    scaler = PerFrame(StandardScaler()).fit(X)
    names = scaler.get_feature_names_out([f"f{i}" for i in range(16)])
    assert names[0] == "f0"
    # a transformer without feature names: the method is not there
    assert not hasattr(PerFrame(FunctionTransformer()), "get_feature_names_out")


def test_set_output(data):
    X, _ = data
    scaler = PerFrame(StandardScaler())
    assert scaler.set_output(transform="default") is scaler
    assert scaler.set_output(transform=None) is scaler
    with pytest.raises(ValueError, match="list of per-video arrays"):
        scaler.set_output(transform="pandas")
    pipe = make_pipeline(PerFrame(StandardScaler()), DenseAnchorSpotter(**TINY))
    assert pipe.set_output(transform="default") is pipe
    # the global configuration does not turn videos into tables
    with config_context(transform_output="pandas"):
        out = PerFrame(StandardScaler()).fit_transform(X)
    assert all(type(v) is np.ndarray for v in out)


def test_pipeline_fit_predict_score_and_nested_params(data):
    X, y = data
    pipe = make_pipeline(PerFrame(PCA(8)), DenseAnchorSpotter(**TINY))
    params = pipe.get_params()
    assert params["perframe__transformer__n_components"] == 8
    pipe.set_params(perframe__transformer__n_components=6)
    copy = clone(pipe)
    assert copy.get_params()["perframe__transformer__n_components"] == 6
    pipe.fit(X[:3], y[:3])
    assert pipe[-1].n_features_in_ == 6
    events = pipe.predict(X[3:])
    assert list(events[0].columns) == ["time", "label", "confidence"]
    assert 0.0 <= pipe.score(X[3:], y[3:]) <= 1.0
    assert 0.0 <= average_map_scorer(pipe, X[3:], y[3:]) <= 1.0
    scaled = make_pipeline(PerFrame(StandardScaler()), DenseAnchorSpotter(**TINY))
    assert len(scaled.fit(X[:3], y[:3]).predict(X[3:])) == 1


def test_grid_search_over_per_frame_components(data):
    X, y = data
    pipe = make_pipeline(PerFrame(PCA(4)), DenseAnchorSpotter(**TINY))
    search = GridSearchCV(
        pipe,
        {"perframe__transformer__n_components": [4, 8]},
        scoring=average_map_scorer,
        cv=KFold(2),
    ).fit(X, y)
    assert search.best_params_["perframe__transformer__n_components"] in (4, 8)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_[0].transformer_.n_components in (4, 8)


def test_forgetting_per_frame_in_a_pipeline_names_it():
    """A PCA without PerFrame either fails in scikit-learn ("dim 3", the FAQ
    entry) or, on stacked frames, hands the spotter one 2-D array."""
    from sk_spotting import DenseAnchorSpotter
    from sk_spotting.datasets import make_spotting_data

    X, y = make_spotting_data(2, n_features=6, minutes=1.0, random_state=0)
    with pytest.raises(ValueError, match="Found array with dim 3"):
        make_pipeline(PCA(2), DenseAnchorSpotter()).fit(X, y)
    with pytest.raises(TypeError, match=r"sk_spotting\.preprocessing\.PerFrame"):
        make_pipeline(PCA(2), DenseAnchorSpotter()).fit(np.vstack(X), y)
