"""Sliding-window inference batched across videos equals one video at a time."""

import numpy as np
import pytest
import torch

from sk_spotting._inference import predict_dense
from sk_spotting.data._chunking import (
    gather_windows,
    inference_windows,
    stitch_windows,
)


class _Context(torch.nn.Module):
    """Output depends on the whole chunk, so misplaced chunks would show."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(3, 2, kernel_size=5, padding=2)

    def forward(self, x):
        return (
            self.conv(x.transpose(1, 2)).transpose(1, 2)
            + x.mean(1, keepdim=True)[..., :2]
        )


def _reference(module, video, chunk_frames, border):
    windows = inference_windows(video.shape[0], chunk_frames, border)
    chunks = torch.from_numpy(gather_windows(video, windows.starts, chunk_frames))
    with torch.no_grad():
        out = module(chunks).numpy()
    return stitch_windows(out, windows, video.shape[0])


@pytest.mark.parametrize("batch_size", [1, 3, 7, 1000])
def test_batched_across_videos_equals_per_video(batch_size):
    torch.manual_seed(0)
    module = _Context()
    rng = np.random.default_rng(0)
    videos = [rng.normal(size=(n, 3)).astype(np.float32) for n in (100, 20, 7, 64, 65)]
    outputs = predict_dense(
        module, videos, chunk_frames=20, border=5, batch_size=batch_size
    )
    for video, output in zip(videos, outputs):
        expected = _reference(module, video, 20, 5)
        np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-6)


def test_transform_and_memmap(tmp_path):
    torch.manual_seed(0)
    module = _Context()
    path = tmp_path / "video.npy"
    np.save(path, np.random.default_rng(1).normal(size=(50, 3)))  # float64 on disk
    video = np.load(path, mmap_mode="r")
    (output,) = predict_dense(
        module,
        [video],
        chunk_frames=16,
        border=4,
        batch_size=4,
        transform=torch.sigmoid,
    )
    expected = _reference(module, np.asarray(video, np.float32), 16, 4)
    np.testing.assert_allclose(output, 1 / (1 + np.exp(-expected)), rtol=1e-5)
