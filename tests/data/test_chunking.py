import numpy as np
import pytest

from sk_spotting.data._chunking import (
    InferenceWindows,
    border_frames,
    gather_windows,
    inference_windows,
    stitch_windows,
)


def reference_windows(n_frames, chunk_frames, border):
    """Step through the video like the reference chunk iterator (docs/method.md)."""
    if n_frames <= chunk_frames:
        return [(0, 0, n_frames)]
    windows, start = [], 0
    while True:
        last = start + chunk_frames >= n_frames
        if last:
            start = n_frames - chunk_frames
        keep_start = 0 if not windows else border
        keep_stop = chunk_frames if last else chunk_frames - border
        windows.append((start, keep_start, keep_stop))
        if last:
            return windows
        start += chunk_frames - 2 * border


def reference_stitch(chunk_outputs, windows, n_frames):
    out = np.full((n_frames, *chunk_outputs.shape[2:]), np.nan)
    for i, (start, keep_start, keep_stop) in enumerate(zip(*windows)):
        stop = min(keep_stop, n_frames - start)
        out[start + keep_start : start + stop] = chunk_outputs[i, keep_start:stop]
    return out


def as_tuples(windows):
    return list(zip(*(a.tolist() for a in windows)))


def test_border_frames():
    assert border_frames(224, 2.0, 50.0) == 100
    assert border_frames(112, 1.0, 50.0) == 50
    assert border_frames(224, 2.0, 20.0) == 40
    assert border_frames(112, 1.0, 20.0) == 20
    assert border_frames(224, 2.0, 0.0) == 0
    assert border_frames(224, 2.5, 10.1) == 26  # ceil
    assert border_frames(224, 2.0, 50.0, min_accepted_seconds=60.0) == 52
    # A chunk shorter than the accepted centre has no border.
    assert border_frames(16, 2.0, 50.0) == 0
    # Every chunk keeps at least one frame.
    assert border_frames(10, 2.0, 50.0, min_accepted_seconds=0.0) == 4
    with pytest.raises(ValueError, match="frame_rate"):
        border_frames(224, 0.0, 50.0)
    with pytest.raises(ValueError, match="border_seconds"):
        border_frames(224, 2.0, -1.0)
    with pytest.raises(TypeError, match="chunk_frames"):
        border_frames(224.0, 2.0, 50.0)


def test_worked_example_test_border():
    windows = inference_windows(5400, 224, border_frames(224, 2.0, 50.0))
    assert isinstance(windows, InferenceWindows)
    assert len(windows.starts) == 217
    np.testing.assert_array_equal(windows.starts[:-1], np.arange(0, 5161, 24))
    assert windows.starts[-1] == 5176
    assert (windows.keep_start[0], windows.keep_stop[0]) == (0, 124)
    assert set(windows.keep_start[1:].tolist()) == {100}
    assert set(windows.keep_stop[:-1].tolist()) == {124}
    assert windows.keep_stop[-1] == 224
    for array in windows:
        assert array.dtype == np.int64


def test_worked_example_validation_border():
    windows = inference_windows(5400, 224, border_frames(224, 2.0, 20.0))
    assert len(windows.starts) == 37
    np.testing.assert_array_equal(np.diff(windows.starts[:-1]), 144)
    assert windows.starts[-1] == 5400 - 224


@pytest.mark.parametrize(
    ("n_frames", "expected"),
    [
        (224, [(0, 0, 224)]),  # exactly one chunk keeps everything
        (225, [(0, 0, 124), (1, 100, 224)]),
        (50, [(0, 0, 50)]),  # shorter: one padded chunk, valid part only
        (1, [(0, 0, 1)]),
        (248, [(0, 0, 124), (24, 100, 224)]),  # last start is a regular one
        (249, [(0, 0, 124), (24, 100, 124), (25, 100, 224)]),
    ],
)
def test_edge_cases(n_frames, expected):
    assert as_tuples(inference_windows(n_frames, 224, 100)) == expected


def test_zero_border_tiles_the_video():
    windows = inference_windows(10, 4, 0)
    assert as_tuples(windows) == [(0, 0, 4), (4, 0, 4), (6, 0, 4)]


def test_matches_reference_iterator_and_covers_every_frame():
    rng = np.random.default_rng(0)
    for _ in range(300):
        chunk_frames = int(rng.integers(1, 40))
        border = int(rng.integers(0, (chunk_frames - 1) // 2 + 1))
        n_frames = int(rng.integers(1, 150))
        windows = inference_windows(n_frames, chunk_frames, border)
        assert as_tuples(windows) == reference_windows(n_frames, chunk_frames, border)
        kept = np.zeros(n_frames, dtype=int)
        for start, keep_start, keep_stop in as_tuples(windows):
            assert 0 <= keep_start < keep_stop <= chunk_frames
            kept[start + keep_start : start + keep_stop] += 1
        assert kept.min() >= 1


def test_inference_windows_invalid():
    with pytest.raises(ValueError, match="border"):
        inference_windows(100, 10, 5)
    with pytest.raises(ValueError, match="n_frames"):
        inference_windows(0, 10, 2)
    with pytest.raises(ValueError, match="border"):
        inference_windows(100, 10, -1)
    with pytest.raises(TypeError, match="n_frames"):
        inference_windows(100.0, 10, 2)


def test_gather_windows():
    rng = np.random.default_rng(1)
    video = rng.random((300, 5)).astype(np.float32)
    windows = inference_windows(300, 64, 20)
    chunks = gather_windows(video, windows.starts, 64)
    assert chunks.shape == (len(windows.starts), 64, 5)
    assert chunks.dtype == np.float32
    assert chunks.flags.c_contiguous
    for chunk, start in zip(chunks, windows.starts):
        np.testing.assert_array_equal(chunk, video[start : start + 64])
    # A new array: writing to it leaves the video alone.
    chunks[:] = -1
    assert video.min() >= 0


def test_gather_windows_pads_short_video():
    video = np.arange(12.0).reshape(6, 2)
    chunks = gather_windows(video, inference_windows(6, 10, 3).starts, 10)
    assert chunks.shape == (1, 10, 2)
    np.testing.assert_array_equal(chunks[0, :6], video)
    np.testing.assert_array_equal(chunks[0, 6:], 0)


def test_gather_windows_memmap(tmp_path):
    video = np.lib.format.open_memmap(
        tmp_path / "video.npy", mode="w+", dtype=np.float32, shape=(500, 3)
    )
    video[:] = np.arange(1500, dtype=np.float32).reshape(500, 3)
    video.flush()
    video = np.load(tmp_path / "video.npy", mmap_mode="r")
    starts = inference_windows(500, 100, 30).starts
    chunks = gather_windows(video, starts, 100)
    assert type(chunks) is np.ndarray
    np.testing.assert_array_equal(chunks, gather_windows(np.array(video), starts, 100))
    del video, chunks


def test_gather_windows_invalid():
    video = np.zeros((20, 2))
    with pytest.raises(ValueError, match="starts"):
        gather_windows(video, [0, 15], 10)
    with pytest.raises(ValueError, match="starts"):
        gather_windows(video, [-1], 10)
    with pytest.raises(ValueError, match="starts"):
        gather_windows(video, [0.5], 10)
    with pytest.raises(ValueError, match="single chunk"):
        gather_windows(video, [1], 30)


def test_stitch_windows_matches_reference():
    rng = np.random.default_rng(2)
    for _ in range(200):
        chunk_frames = int(rng.integers(1, 40))
        border = int(rng.integers(0, (chunk_frames - 1) // 2 + 1))
        n_frames = int(rng.integers(1, 150))
        windows = inference_windows(n_frames, chunk_frames, border)
        chunk_outputs = rng.random((len(windows.starts), chunk_frames, 3))
        stitched = stitch_windows(chunk_outputs, windows, n_frames)
        assert stitched.shape == (n_frames, 3)
        np.testing.assert_array_equal(
            stitched, reference_stitch(chunk_outputs, windows, n_frames)
        )


def test_gather_then_stitch_round_trip():
    # With an identity "network", stitching the chunks gives the video back.
    rng = np.random.default_rng(3)
    for n_frames in (1, 50, 224, 225, 5400):
        video = rng.random((n_frames, 4))
        windows = inference_windows(n_frames, 224, 100)
        chunks = gather_windows(video, windows.starts, 224)
        np.testing.assert_array_equal(stitch_windows(chunks, windows, n_frames), video)


def test_stitch_later_chunk_wins():
    windows = inference_windows(250, 224, 100)  # starts 0, 24, 26
    chunk_outputs = np.stack([np.full((224, 1), i) for i in range(3)])
    stitched = stitch_windows(chunk_outputs, windows, 250)[:, 0]
    np.testing.assert_array_equal(stitched[:124], 0)
    np.testing.assert_array_equal(stitched[124:126], 1)  # 124..125 of chunk 1
    np.testing.assert_array_equal(stitched[126:], 2)  # chunk 2 from 126 on


def test_stitch_windows_invalid():
    windows = inference_windows(100, 40, 10)
    with pytest.raises(ValueError, match="n_chunks"):
        stitch_windows(np.zeros((2, 40, 1)), windows, 100)
    with pytest.raises(ValueError, match="fit"):
        stitch_windows(np.zeros((len(windows.starts), 30, 1)), windows, 100)
    for n_frames in (99, 200):
        with pytest.raises(ValueError, match="built for a video of 100"):
            stitch_windows(np.zeros((len(windows.starts), 40, 1)), windows, n_frames)
    gap = windows._replace(keep_stop=windows.keep_stop - 5 * (windows.starts == 0))
    with pytest.raises(ValueError, match="cover"):
        stitch_windows(np.zeros((len(windows.starts), 40, 1)), gap, 100)
