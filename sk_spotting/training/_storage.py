"""Where training features are read from: the caller's arrays or one device copy.

Shape legend: n all frames, d features.

A :class:`FeatureStore` is built once per fit and shared by the chunk samplers
of both networks (docs/gpu.md, Memory).  With ``"host"`` storage it holds the
caller's arrays or memory maps and reads nothing until a batch is gathered;
with ``"device"`` storage it copies them into one ``(n, d)`` tensor on the
device with :func:`fill_tensor`, a block of rows at a time, converted to the
storage type (bfloat16 halves it) on the way, so that no full float32 copy is
ever staged in host memory.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["FeatureStore", "fill_tensor"]

FILL_BLOCK_ROWS = 4096
"""Rows staged at a time while a device tensor is filled."""

_NUMPY_STAGING = {
    torch.float32: np.float32,
    torch.bfloat16: np.float32,  # numpy has no bfloat16: stage a block as float32
    torch.float16: np.float16,
    torch.float64: np.float64,
    torch.bool: np.bool_,
    torch.int8: np.int8,
    torch.int16: np.int16,
    torch.int32: np.int32,
    torch.int64: np.int64,
}


def _empty_host(shape, dtype, pin):
    """A numpy array, in pinned memory when ``pin`` (for synchronous copies)."""
    if not pin:
        return np.empty(shape, dtype)
    torch_dtype = torch.from_numpy(np.empty(0, dtype)).dtype
    return torch.empty(shape, dtype=torch_dtype, pin_memory=True).numpy()


def fill_tensor(arrays, *, dtype, device, block_rows=FILL_BLOCK_ROWS):
    """Stack per-video arrays along time into one tensor on ``device``.

    The tensor is allocated on the device and filled block by block: at most
    ``block_rows`` rows are staged in host memory at a time (in float32 for a
    bfloat16 tensor), so no full copy of the data ever exists outside the
    device.

    Parameters
    ----------
    arrays : list of array-like of shape (n_frames_i, ...)
        Arrays, memory maps or objects with ``shape``, ``dtype`` and slicing.
    dtype : torch.dtype
        Type of the tensor.
    device : str or torch.device
        Where the tensor lives.
    block_rows : int, default=FILL_BLOCK_ROWS
        Rows copied at a time.

    Returns
    -------
    tensor : torch.Tensor of shape (sum of n_frames_i, ...)

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sk_spotting.training._storage import fill_tensor
    >>> tensor = fill_tensor([np.ones((3, 2)), np.zeros((2, 2))],
    ...                      dtype=torch.bfloat16, device="cpu", block_rows=2)
    >>> tuple(tensor.shape), tensor.dtype, tensor.sum().item()
    ((5, 2), torch.bfloat16, 6.0)
    """
    device = torch.device(device)
    n_total = sum(int(a.shape[0]) for a in arrays)
    width = tuple(arrays[0].shape[1:])
    out = torch.empty((n_total,) + width, dtype=dtype, device=device)
    rows = max(1, min(int(block_rows), max(int(a.shape[0]) for a in arrays)))
    staging = _empty_host((rows,) + width, _NUMPY_STAGING[dtype], device.type == "cuda")
    position = 0
    for array in arrays:
        for start in range(0, int(array.shape[0]), rows):
            block = array[start : start + rows]
            n = block.shape[0]
            staging[:n] = block
            # a synchronous copy: the staging block is reused right after
            out[position : position + n].copy_(torch.from_numpy(staging[:n]))
            position += n
    return out


def _nbytes(n_values, dtype):
    return n_values * torch.empty((), dtype=dtype).element_size()


class FeatureStore:
    """Training features of all videos, where batches of chunks are read from.

    Built once per fit and shared by the samplers of both networks.  With
    ``"host"`` storage it holds the caller's arrays (or memory maps) and reads
    nothing; with ``"device"`` storage it copies them into one tensor on the
    device, a block of rows at a time.

    Parameters
    ----------
    videos : list of array-like of shape (n_frames_i, n_features)
        Training features: arrays, memory maps, or objects with ``shape``,
        ``dtype`` and row slicing.
    device : str or torch.device, default="cpu"
        Training device.
    dtype : torch.dtype, default=torch.float32
        Type of the features in a batch (``torch.bfloat16`` halves a device
        copy).
    storage : {"auto", "device", "host"}, default="auto"
        "auto" copies the features to a CUDA device when they take less than
        half of its free memory, and keeps them where they are otherwise (and
        always on the CPU).

    Attributes
    ----------
    videos : list
        The caller's arrays, as given.
    n_frames : ndarray of shape (n_videos,)
        Frames of each video.
    location : {"host", "device"}
        The storage chosen.
    features : torch.Tensor of shape (n, n_features) or None
        The device copy (``"device"`` storage only).
    offsets : ndarray of shape (n_videos,)
        First row of each video in ``features``.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_spotting.training import FeatureStore
    >>> videos = [np.ones((50, 3), np.float32), np.ones((8, 3), np.float32)]
    >>> store = FeatureStore(videos)
    >>> store.location, store.features is None, store.videos[0] is videos[0]
    ('host', True, True)
    """

    def __init__(self, videos, *, device="cpu", dtype=torch.float32, storage="auto"):
        if storage not in ("auto", "device", "host"):
            raise ValueError(f"storage must be auto, device or host, got {storage!r}.")
        self.videos = list(videos)
        # memory maps read as plain arrays over the same pages: slicing a
        # np.memmap costs a Python-level __array_finalize__ per chunk
        self._rows = [
            v.view(np.ndarray) if isinstance(v, np.memmap) else v for v in self.videos
        ]
        if not self.videos:
            raise ValueError("FeatureStore needs at least one video.")
        width = None
        for i, video in enumerate(self.videos):
            shape = getattr(video, "shape", None)
            if shape is None or len(shape) != 2 or shape[0] < 1:
                raise ValueError(
                    f"videos[{i}] (video {i}) must be an array of shape "
                    f"(n_frames, n_features) with at least one frame, got shape "
                    f"{shape}."
                )
            width = shape[1] if width is None else width
            if shape[1] != width:
                raise ValueError(
                    f"videos[{i}] (video {i}) has {shape[1]} features, "
                    f"videos[0] has {width}."
                )
        self.device = torch.device(device)
        self.dtype = dtype
        self.n_frames = np.array([int(v.shape[0]) for v in self.videos], dtype=np.int64)
        self.n_features = int(self.videos[0].shape[1])
        self.offsets = np.concatenate([[0], np.cumsum(self.n_frames)[:-1]])
        self.location = self._choose(storage)
        self.features = None
        if self.location == "device":
            self.features = fill_tensor(self.videos, dtype=dtype, device=self.device)

    @property
    def nbytes(self):
        """Bytes of the features in the storage type."""
        return _nbytes(int(self.n_frames.sum()) * self.n_features, self.dtype)

    def _choose(self, storage):
        if storage != "auto":
            return storage
        if self.device.type != "cuda":
            return "host"
        free, _ = torch.cuda.mem_get_info(self.device)
        return "device" if self.nbytes < free / 2 else "host"

    def describe(self):
        """One sentence saying where the features are and how batches are made."""
        size = (
            f"{len(self.videos)} videos, {int(self.n_frames.sum()):,} frames of "
            f"{self.n_features} features"
        )
        dtype = str(self.dtype).removeprefix("torch.")
        if self.location == "device":
            return (
                f"training features ({size}) copied to {self.device} as {dtype} "
                f"({self.nbytes / 1e9:.2f} GB); batches gathered there"
            )
        where = "pinned memory, then copied to " + str(self.device)
        if self.device.type != "cuda":
            where = str(self.device)
        return (
            f"training features ({size}) stay in the caller's arrays or memory "
            f"maps; each batch is gathered on the CPU ({where})"
        )
