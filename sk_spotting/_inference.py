"""Sliding-window inference of a network over whole videos (docs/method.md, Inference).

Shape legend: b batch of chunks, t frames, c classes, d features.

The chunks of many videos go through the network together in batches of up to
``batch_size``; each video is copied to the device once and its chunks are
gathered there by index, so no chunk is ever copied on the host.  Outputs are
stitched per video on the device (each frame from the chunk that keeps it), and
only the stitched ``(t, c)`` outputs come back to the host, in one copy at the
end, so the device never waits for the host between batches.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from .data._chunking import inference_windows, window_sources

__all__ = ["predict_dense"]


def _video_tensor(video, device):
    """One video on the device as float32 (memory maps are read once)."""
    array = np.asarray(video)
    if not (
        array.dtype == np.float32 and array.flags.c_contiguous and array.flags.writeable
    ):
        # torch wants writable memory (memory maps are read-only): one copy
        array = np.array(array, dtype=np.float32, order="C")
    return torch.from_numpy(array).to(device)


def _chunk_index(n_frames, starts, chunk_frames, device):
    """Frame index ``(n_chunks, T)`` of each chunk and its validity mask."""
    steps = torch.arange(chunk_frames, device=device)
    frames = torch.as_tensor(starts, device=device)[:, None] + steps[None, :]
    valid = frames < n_frames
    return torch.clamp(frames, max=n_frames - 1), valid


class _Batcher:
    """Run the chunks of successive videos in full batches and stitch them.

    Outputs stay on the device: once every chunk of a video has run, its kept
    frames are gathered there (``sources``, flat chunk-frame indices), so only
    ``(t, c)`` per video ever leaves the device.  The transform is applied to
    whole batches, as before the device-side stitching, which keeps outputs
    bit-identical to it (an element-wise function on a differently laid out
    tensor may differ in the last bit).
    """

    def __init__(self, module, batch_size, transform, autocast_dtype):
        self.module = module
        self.batch_size = batch_size
        self.transform = transform
        self.autocast_dtype = autocast_dtype
        self.pending = []  # (video_id, chunk tensor (n, T, d))
        self.n_pending = 0
        self.remaining = {}  # video_id -> chunks not run yet
        self.sources = {}  # video_id -> flat (chunk, frame) index of each frame
        self.pieces = {}  # video_id -> list of (n, T, c) device outputs
        self.stitched = {}  # video_id -> (t, c) device output

    def add(self, video_id, chunks, sources):
        self.pending.append((video_id, chunks))
        self.n_pending += chunks.shape[0]
        self.remaining[video_id] = chunks.shape[0]
        self.sources[video_id] = sources
        self.pieces[video_id] = []
        while self.n_pending >= self.batch_size:
            self._run(self.batch_size)

    def flush(self):
        while self.n_pending:
            self._run(self.n_pending)

    def _autocast(self, device):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype)

    def _run(self, n):
        taken, owners, left = [], [], n
        while left:
            video_id, chunks = self.pending[0]
            part = chunks[:left]
            taken.append(part)
            owners.append((video_id, part.shape[0]))
            if part.shape[0] == chunks.shape[0]:
                self.pending.pop(0)
            else:
                self.pending[0] = (video_id, chunks[left:])
            left -= part.shape[0]
        self.n_pending -= n
        batch = torch.cat(taken) if len(taken) > 1 else taken[0]
        with self._autocast(batch.device):
            out = self.module(batch)
        out = self.transform(out.float())
        position = 0
        for video_id, count in owners:
            self.pieces[video_id].append(out[position : position + count])
            position += count
            self.remaining[video_id] -= count
            if self.remaining[video_id] == 0:
                self._stitch(video_id)

    def _stitch(self, video_id):
        pieces = self.pieces.pop(video_id)
        outputs = torch.cat(pieces) if len(pieces) > 1 else pieces[0]
        flat = outputs.reshape(-1, *outputs.shape[2:])
        self.stitched[video_id] = flat[self.sources.pop(video_id)]

    def results(self, n_videos):
        """All stitched outputs as host arrays, with one device-to-host copy."""
        outputs = [self.stitched.pop(i) for i in range(n_videos)]
        lengths = [o.shape[0] for o in outputs]
        host = torch.cat(outputs).cpu().numpy()
        return np.split(host, np.cumsum(lengths)[:-1])


@torch.no_grad()
def predict_dense(
    module,
    videos,
    *,
    chunk_frames,
    border,
    batch_size,
    transform=None,
    autocast_dtype=None,
):
    """Dense outputs of ``module`` over whole videos, by sliding windows.

    Parameters
    ----------
    module : torch.nn.Module
        Maps chunks ``(b, T, d)`` to ``(b, T, c)``.
    videos : list of ndarray of shape (n_frames_i, n_features)
        Videos (arrays or memory maps).
    chunk_frames : int
        Frames per chunk ``T``.
    border : int
        Frames at each side of a chunk whose outputs are discarded.
    batch_size : int
        Chunks per forward pass (chunks of several videos share a batch).
    transform : callable, default=None
        Element-wise function applied to each batch of outputs (e.g.
        :func:`torch.sigmoid`).
    autocast_dtype : torch.dtype, default=None
        Autocast type of the forward pass, or None for float32.

    Returns
    -------
    outputs : list of ndarray of shape (n_frames_i, c)
        Stitched outputs, float32.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sk_spotting._inference import predict_dense
    >>> module = torch.nn.Linear(3, 2)
    >>> videos = [np.ones((50, 3), np.float32), np.ones((7, 3), np.float32)]
    >>> outputs = predict_dense(module, videos, chunk_frames=20, border=4,
    ...                         batch_size=8)
    >>> [o.shape for o in outputs]
    [(50, 2), (7, 2)]
    """
    device = next(module.parameters()).device
    transform = transform if transform is not None else (lambda out: out)
    module.eval()
    batcher = _Batcher(module, batch_size, transform, autocast_dtype)
    for video_id, video in enumerate(videos):
        n_frames = video.shape[0]
        windows = inference_windows(n_frames, chunk_frames, border)
        owner, position = window_sources(windows, n_frames, chunk_frames)
        sources = torch.as_tensor(owner * chunk_frames + position, device=device)
        features = _video_tensor(video, device)
        index, valid = _chunk_index(n_frames, windows.starts, chunk_frames, device)
        chunks = features[index] * valid.unsqueeze(-1)
        batcher.add(video_id, chunks, sources)
    batcher.flush()
    return batcher.results(len(videos))
