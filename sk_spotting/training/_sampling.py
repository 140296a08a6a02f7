"""Training chunks sampled uniformly inside videos (docs/method.md, Training).

Shape legend: b batch, t frames, c classes, d features, n all frames.

All training videos are concatenated once into one ``(n, d)`` tensor on the
training device, with their per-anchor targets and loss weights beside them, so
that a batch of chunks is a single gather by index: no host copies and no
Python loop over chunks or frames.  When they do not fit in the GPU's free
memory they stay in pinned host memory instead, and each batch is gathered
there and copied asynchronously.  A chunk is drawn by picking a video with
probability proportional to its number of valid chunk starts (a video shorter
than a chunk counts as one) and a uniform start; chunks lie fully inside their
video.  A video shorter than a chunk yields one chunk right-padded with zero
features, targets and weights.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["ChunkSampler"]


def _concatenate(arrays, dtype, device, pin=False):
    """Stack per-video arrays along time into one tensor, reading each once."""
    n_total = sum(a.shape[0] for a in arrays)
    if dtype == torch.bfloat16:  # numpy has no bfloat16: stage as float32
        staged = _concatenate(arrays, torch.float32, "cpu").to(dtype=dtype)
        return staged.pin_memory() if pin else staged.to(device)
    out = torch.empty((n_total,) + tuple(arrays[0].shape[1:]), dtype=dtype)
    staging = out.numpy()  # shares memory: one copy, read-only inputs are fine
    position = 0
    for array in arrays:
        n = array.shape[0]
        staging[position : position + n] = array
        position += n
    return out.pin_memory() if pin else out.to(device)


class ChunkSampler:
    """Batches of training chunks gathered on the device.

    Parameters
    ----------
    videos : list of ndarray of shape (n_frames_i, n_features)
        Training features (arrays or memory maps; each is read once).
    targets : list of ndarray of shape (n_frames_i, n_classes)
        Per-anchor targets of each video.
    weights : list of ndarray of shape (n_frames_i, n_classes)
        Per-anchor loss weights of each video.
    chunk_frames : int
        Frames per chunk.
    batch_size : int
        Chunks per batch.
    chunks_per_epoch : int
        Chunks per epoch; an epoch has ``ceil(chunks_per_epoch / batch_size)``
        full batches.
    device : str or torch.device, default="cpu"
        Where the tensors live and batches are gathered.
    feature_dtype : torch.dtype, default=torch.float32
        Storage type of the features (``torch.bfloat16`` halves the memory).
    storage : {"auto", "device", "host"}, default="auto"
        Where the concatenated videos live; "auto" keeps them on a CUDA device
        when they take less than half of its free memory, else in pinned host
        memory.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_spotting.training import ChunkSampler
    >>> videos = [np.ones((50, 3), np.float32), np.ones((8, 3), np.float32)]
    >>> targets = [np.zeros((50, 2), np.float32), np.zeros((8, 2), np.float32)]
    >>> sampler = ChunkSampler(videos, targets, targets, chunk_frames=10,
    ...                        batch_size=4, chunks_per_epoch=8)
    >>> x, target, weight = next(iter(sampler))
    >>> tuple(x.shape), tuple(target.shape), sampler.n_batches
    ((4, 10, 3), (4, 10, 2), 2)
    """

    def __init__(
        self,
        videos,
        targets,
        weights,
        *,
        chunk_frames,
        batch_size,
        chunks_per_epoch,
        device="cpu",
        feature_dtype=torch.float32,
        storage="auto",
    ):
        self.chunk_frames = int(chunk_frames)
        self.batch_size = int(batch_size)
        self.n_batches = max(1, math.ceil(chunks_per_epoch / batch_size))
        self.device = torch.device(device)
        n_frames = np.array([v.shape[0] for v in videos], dtype=np.int64)
        self.storage = self._storage_device(storage, videos, targets, feature_dtype)
        pin = self.storage.type == "cpu" and self.device.type == "cuda"
        self.features = _concatenate(videos, feature_dtype, self.storage, pin)
        self.targets = _concatenate(targets, torch.float32, self.storage, pin)
        self.weights = _concatenate(weights, torch.float32, self.storage, pin)
        offsets = np.concatenate([[0], np.cumsum(n_frames)[:-1]])
        n_starts = np.maximum(n_frames - self.chunk_frames + 1, 1)
        self._offsets = torch.as_tensor(offsets, device=self.device)
        self._n_frames = torch.as_tensor(n_frames, device=self.device)
        self._n_starts = torch.as_tensor(n_starts, device=self.device)
        self._video_probability = torch.as_tensor(
            n_starts / n_starts.sum(), dtype=torch.float64, device=self.device
        )
        self._steps = torch.arange(self.chunk_frames, device=self.device)

    def _storage_device(self, storage, videos, targets, feature_dtype):
        if storage not in ("auto", "device", "host"):
            raise ValueError(f"storage must be auto, device or host, got {storage!r}.")
        if storage == "host" or self.device.type != "cuda":
            return torch.device("cpu") if storage == "host" else self.device
        if storage == "device":
            return self.device
        n_total = sum(v.shape[0] for v in videos)
        n_bytes = n_total * (
            videos[0].shape[1] * torch.finfo(feature_dtype).bits // 8
            + 2 * targets[0].shape[1] * 4
        )
        free, _ = torch.cuda.mem_get_info(self.device)
        return self.device if n_bytes < free / 2 else torch.device("cpu")

    def __len__(self):
        return self.n_batches

    def sample(self):
        """Draw one batch: features ``(b, t, d)``, targets and weights ``(b, t, c)``.

        Uses the global torch random generator of the device, which ``fit``
        seeds from ``random_state``.
        """
        video = torch.multinomial(
            self._video_probability, self.batch_size, replacement=True
        )
        uniform = torch.rand(self.batch_size, device=self.device, dtype=torch.float64)
        start = (uniform * self._n_starts[video]).long()
        frame = start[:, None] + self._steps[None, :]
        n_frames = self._n_frames[video][:, None]
        valid = frame < n_frames
        index = self._offsets[video][:, None] + torch.minimum(frame, n_frames - 1)
        valid = valid.unsqueeze(-1)
        x, target, weight = self._gather(index)
        return x * valid.to(x.dtype), target * valid, weight * valid

    def _gather(self, index):
        if self.storage == self.device:
            return self.features[index], self.targets[index], self.weights[index]
        index = index.to(self.storage)
        return tuple(
            tensor[index].pin_memory().to(self.device, non_blocking=True)
            for tensor in (self.features, self.targets, self.weights)
        )

    def __iter__(self):
        for _ in range(self.n_batches):
            yield self.sample()
