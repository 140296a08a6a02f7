"""Where training chunks are read from: host and device storage, prefetch, memory."""

import functools
import tracemalloc

import numpy as np
import pytest
import torch

import sk_spotting._dense as dense_module
from sk_spotting import DenseAnchorSpotter
from sk_spotting.datasets import make_spotting_data
from sk_spotting.training import ChunkSampler, FeatureStore
from sk_spotting.training._storage import fill_tensor


class CountingArray:
    """A stand-in for a memory map: shape, dtype and row slicing, counted."""

    def __init__(self, array):
        self.array = array
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim
        self.reads = []

    def __getitem__(self, key):
        rows = self.array[key]
        self.reads.append(rows.shape[0])
        return rows


def _data(lengths=(70, 45, 9), n_features=5, n_classes=3, seed=0):
    """Negative and positive float64 features; a video shorter than a chunk."""
    rng = np.random.default_rng(seed)
    videos = [rng.normal(size=(n, n_features)) for n in lengths]
    masks = [rng.random((n, n_classes)) < 0.3 for n in lengths]
    displacement = [
        rng.integers(-4, 5, (n, n_classes)).astype(np.float32) for n in lengths
    ]
    weights = (
        np.array([5.0, 0.25, 2.0], np.float32),
        np.array([0.5, 1.5, 0.0], np.float32),
    )
    return videos, masks, displacement, weights


def _batches(sampler, n_epochs=2, consume=False, seed=0):
    torch.manual_seed(seed)
    batches = []
    for _ in range(n_epochs):
        for batch in sampler:
            batches.append(batch)
            if consume:  # what mixup does between two batches
                torch.rand(3)
    return batches


def _bitwise_equal(a, b):
    """Equal bits, so that -0.0 and 0.0 differ (torch.equal says they agree)."""
    assert a.dtype == b.dtype and a.shape == b.shape
    view = {torch.float32: torch.int32, torch.bfloat16: torch.int16}[a.dtype]
    return torch.equal(a.contiguous().view(view), b.contiguous().view(view))


def _sampler(videos, targets, weights, **kwargs):
    options = {"chunk_frames": 12, "batch_size": 6, "chunks_per_epoch": 24}
    return ChunkSampler(videos, targets, weights, **{**options, **kwargs})


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_host_and_device_storage_give_the_same_bits(dtype):
    videos, masks, displacement, weights = _data()
    runs = {}
    for storage in ("host", "device"):
        sampler = _sampler(
            videos,
            displacement,
            masks,
            class_weights=weights,
            storage=storage,
            feature_dtype=dtype,
        )
        assert sampler.store.location == storage
        runs[storage] = _batches(sampler)
    short = torch.from_numpy(videos[2][0].astype(np.float32)).to(dtype)
    n_padded = 0
    for host, device in zip(runs["host"], runs["device"]):
        for a, b in zip(host, device):
            assert _bitwise_equal(a, b)
        assert host[0].dtype == dtype and host[1].dtype == torch.float32
        for x, weight in zip(host[0], host[2]):
            if torch.equal(x[0], short):  # a chunk of the 9-frame video
                n_padded += 1
                assert torch.all(x[9:] == 0) and torch.all(weight[9:] == 0)
                # zero times the last frame, as a gather times a mask gives:
                # -0.0 where that frame is negative
                assert torch.equal(
                    torch.signbit(x[9:]), torch.signbit(x[8]).expand(3, -1)
                )
    assert n_padded > 0


@pytest.mark.parametrize("storage", ["host", "device"])
def test_class_weights_expand_to_the_weights_they_stand_for(storage):
    # the confidence network's case: the boolean targets are the weight masks
    videos, masks, _, (positive, negative) = _data()
    targets = [m.astype(np.float32) for m in masks]
    full = [np.where(m, positive, negative) for m in masks]
    compact = _sampler(
        videos, masks, masks, class_weights=(positive, negative), storage=storage
    )
    if storage == "device":  # one boolean tensor for both
        assert compact._weights is compact._targets
        assert compact._targets.dtype == torch.bool
    explicit = _batches(_sampler(videos, targets, full))
    for a, b in zip(_batches(compact), explicit):
        for p, q in zip(a, b):
            assert _bitwise_equal(p, q)


@pytest.mark.parametrize("consume", [False, True])
def test_prefetch_gives_the_batches_of_an_unprefetched_run(consume):
    videos, masks, displacement, weights = _data()
    plain = _sampler(videos, displacement, masks, class_weights=weights, prefetch=False)
    ahead = _sampler(videos, displacement, masks, class_weights=weights, prefetch=True)
    expected = _batches(plain, consume=consume)
    got = _batches(ahead, consume=consume)
    assert len(got) == len(expected) == 8
    for a, b in zip(got, expected):
        for p, q in zip(a, b):
            assert _bitwise_equal(p, q)
    # the guessed batches were used while nothing else drew random numbers;
    # after a step that drew some, guessing stops
    assert ahead._guess_ahead is not consume
    # the generator ends where an unprefetched run leaves it
    torch.manual_seed(0)
    for batch in plain:
        pass
    state = torch.get_rng_state()
    torch.manual_seed(0)
    for batch in ahead:
        pass
    assert torch.equal(torch.get_rng_state(), state)


def test_host_storage_reads_only_the_sampled_chunks():
    videos, masks, displacement, weights = _data(lengths=(400, 300, 9))
    counting = [CountingArray(v) for v in videos]
    store = FeatureStore(counting)
    assert store.location == "host" and store.features is None
    assert all(not c.reads for c in counting)  # nothing read up front
    sampler = _sampler(store, displacement, masks, class_weights=weights)
    torch.manual_seed(0)
    for _ in sampler:
        pass
    reads = [n for c in counting for n in c.reads]
    assert len(reads) == sampler.n_batches * sampler.batch_size
    assert max(reads) <= sampler.chunk_frames
    assert sum(reads) <= sampler.n_batches * sampler.batch_size * sampler.chunk_frames


def test_fill_tensor_stages_one_block_at_a_time():
    rng = np.random.default_rng(0)
    videos = [rng.normal(size=(n, 16)) for n in (9000, 7000, 4000)]
    counting = [CountingArray(v) for v in videos]
    tracemalloc.start()
    tensor = fill_tensor(counting, dtype=torch.bfloat16, device="cpu", block_rows=500)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    expected = torch.from_numpy(np.concatenate(videos).astype(np.float32))
    assert _bitwise_equal(tensor, expected.to(torch.bfloat16))
    assert max(n for c in counting for n in c.reads) == 500
    float32_copy = 20000 * 16 * 4
    assert peak < float32_copy / 10  # a 500-row float32 block, not the whole set


def test_store_and_sampler_check_their_inputs():
    videos, masks, displacement, weights = _data()
    with pytest.raises(ValueError, match="storage must be"):
        FeatureStore(videos, storage="disk")
    with pytest.raises(ValueError, match="at least one video"):
        FeatureStore([])
    with pytest.raises(ValueError, match=r"videos\[1\] \(video 1\) has 3 features"):
        FeatureStore([videos[0], videos[1][:, :3]])
    with pytest.raises(ValueError, match=r"\(video 1\) must be .* at least one"):
        FeatureStore([videos[0], videos[1][:0]])
    with pytest.raises(ValueError, match=r"videos\[0\] \(video 0\) must be"):
        FeatureStore([videos[0][0]])
    positive, negative = weights
    with pytest.raises(ValueError, match=r"class_weights \(positive\) must have"):
        _sampler(videos, displacement, masks, class_weights=(positive[:1], negative))
    with pytest.raises(ValueError, match=r"targets has 2 arrays for 3 videos"):
        _sampler(videos, displacement[:2], masks)
    with pytest.raises(ValueError, match=r"weights\[1\] \(video 1\) has shape"):
        _sampler(videos, displacement, [masks[0], masks[0], masks[2]])
    with pytest.raises(TypeError, match=r"weights\[0\] \(video 0\) has dtype float32"):
        _sampler(videos, displacement, displacement, class_weights=weights)
    with pytest.raises(ValueError, match="prefetch must be"):
        _sampler(videos, displacement, masks, prefetch="yes")
    store = FeatureStore(videos, device="meta")
    with pytest.raises(ValueError, match="FeatureStore is for meta"):
        _sampler(store, displacement, masks)


def _memory_maps(folder, videos):
    maps = []
    for i, video in enumerate(videos):
        path = folder / f"{i}.npy"
        np.save(path, video.astype(np.float32))
        maps.append(np.load(path, mmap_mode="r"))
    return maps


SMALL = {
    "chunk_duration": 16.0,
    "unet_levels": 2,
    "epochs": 1,
    "chunks_per_epoch": 8,
    "batch_size": 4,
    "random_state": 0,
}


def test_fit_on_memory_maps_reads_them_in_place(tmp_path, monkeypatch, capsys):
    X, y = make_spotting_data(3, n_features=8, minutes=2.0, random_state=0)
    maps = _memory_maps(tmp_path, X)
    samplers = []

    class Spy(ChunkSampler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            samplers.append(self)

    monkeypatch.setattr(dense_module, "ChunkSampler", Spy)
    DenseAnchorSpotter(**SMALL, device="cpu", verbose=1).fit(maps, y)
    assert len(samplers) == 2
    store = samplers[0].store
    assert samplers[1].store is store  # one store for both networks
    assert store.location == "host" and store.features is None
    assert all(v is m for v, m in zip(store.videos, maps))
    assert all(np.shares_memory(r, m) for r, m in zip(store._rows, maps))
    n_total = sum(m.shape[0] for m in maps)
    for sampler in samplers:  # nothing the size of the training set
        for value in vars(sampler).values():
            if isinstance(value, (np.ndarray, torch.Tensor)):
                assert value.shape[0] < n_total
    assert "stay in the caller's arrays or memory maps" in capsys.readouterr().err


def test_fit_is_the_same_with_the_features_copied(monkeypatch):
    X, y = make_spotting_data(3, n_features=8, minutes=2.0, random_state=0)
    X[2] = X[2][:20] - 1.0  # shorter than a chunk, negative features
    y[2] = y[2][y[2]["time"] < 10.0]
    params = {**SMALL, "epochs": 2, "device": "cpu"}
    in_place = DenseAnchorSpotter(**params).fit(X, y).predict_scores(X[:1])[0]
    monkeypatch.setattr(
        dense_module, "FeatureStore", functools.partial(FeatureStore, storage="device")
    )
    copied = DenseAnchorSpotter(**params).fit(X, y).predict_scores(X[:1])[0]
    np.testing.assert_array_equal(in_place.confidence, copied.confidence)
    np.testing.assert_array_equal(in_place.displacement, copied.displacement)
