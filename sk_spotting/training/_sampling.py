"""Training chunks sampled uniformly inside videos (docs/method.md, Training).

Shape legend: b batch, t frames, c classes, d features, n all frames.

A chunk is drawn by picking a video with probability proportional to its
number of valid chunk starts (a video shorter than a chunk counts as one) and
a uniform start; chunks lie fully inside their video.  A video shorter than a
chunk yields one chunk right-padded with zero features, targets and weights.
The draws use the global torch generator of the training device, in the same
order whatever the storage, so a fit gives the same batches from any of them.

Where the features live is a :class:`FeatureStore`, built once per fit and
shared by the samplers of both networks:

- ``"host"``: the caller's own arrays or memory maps.  Each batch copies its
  chunks out of them (one slice per chunk), so memory holds a batch, not the
  training set; on CUDA the batch is gathered in pinned memory and copied
  asynchronously.  Nothing is read before it is sampled.
- ``"device"``: one tensor on the device, where a batch is a single gather by
  index (what makes sampling cheap on a GPU).  It is filled a block of rows at
  a time, converted to the storage type (bfloat16 halves it) on the way, so
  no full float32 copy is ever staged in host memory.

Targets and loss weights stay per video in the caller's compact form (boolean
masks and per-class weights, see ``class_weights``) and are expanded to
float32 for each batch only.

With host storage a batch can be gathered in a background thread while the
network trains on the previous one.  Its chunk positions are still drawn in
the training thread, from the global generator: the draws for the next batch
are made right after those of the current one, with the generator state set
back, and are used only if the training step left the generator untouched
(no mixup, no dropout); otherwise the batch is drawn again in turn.  Either
way the batches are those of an unprefetched run.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ._storage import FeatureStore, fill_tensor

__all__ = ["ChunkSampler"]


def _torch_dtype(array):
    """The compact torch type of a target array: booleans and small integers
    keep their type, anything else becomes float32 (as batches are)."""
    dtype = np.dtype(array.dtype)
    if dtype == np.bool_:
        return torch.bool
    if dtype == np.int8:
        return torch.int8
    if dtype in (np.uint8, np.int16):
        return torch.int16
    return torch.float32


def _check_per_video(name, arrays, n_frames):
    if len(arrays) != len(n_frames):
        raise ValueError(f"{name} has {len(arrays)} arrays for {len(n_frames)} videos.")
    for i, (array, n) in enumerate(zip(arrays, n_frames)):
        if array.ndim != 2 or array.shape[0] != n:
            raise ValueError(
                f"{name}[{i}] (video {i}) has shape {tuple(array.shape)}; expected "
                f"({n}, n_classes)."
            )


def _pad(rows, n):
    """Rows from ``n`` on: the last valid row times zero (-0.0 after a negative
    value), as a gather by clamped index times the validity mask gives."""
    if n < rows.shape[0]:
        rows[n:] = rows[n - 1] * np.float32(0)


def _rng_state(device):
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    return torch.get_rng_state()


def _set_rng_state(state, device):
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    else:
        torch.set_rng_state(state)


class ChunkSampler:
    """Batches of training chunks drawn uniformly inside the training videos.

    Parameters
    ----------
    videos : list of ndarray of shape (n_frames_i, n_features) or FeatureStore
        Training features (arrays or memory maps, read a batch at a time), or
        a :class:`FeatureStore` shared with another sampler; a store brings
        its own device, type and storage, and ``feature_dtype`` and
        ``storage`` are then unused.
    targets : list of ndarray of shape (n_frames_i, n_classes)
        Per-anchor targets of each video, of any real or boolean type (read
        as float32 a batch at a time).
    weights : list of ndarray of shape (n_frames_i, n_classes)
        Per-anchor loss weights of each video; with ``class_weights``,
        boolean masks instead (they may be the same arrays as ``targets``).
    chunk_frames : int
        Frames per chunk.
    batch_size : int
        Chunks per batch.
    chunks_per_epoch : int
        Chunks per epoch; an epoch has ``ceil(chunks_per_epoch / batch_size)``
        full batches.
    device : str or torch.device, default="cpu"
        Where batches are delivered and chunk positions are drawn.
    feature_dtype : torch.dtype, default=torch.float32
        Type of the features in a batch (``torch.bfloat16`` halves the memory
        of a device copy).
    storage : {"auto", "device", "host"}, default="auto"
        Where the features are read from (see :class:`FeatureStore`).
    class_weights : tuple of (ndarray, ndarray) of shape (n_classes,), default=None
        ``(positive, negative)`` float32 weights: an anchor of class ``k``
        weighs ``positive[k]`` where its mask in ``weights`` is True and
        ``negative[k]`` elsewhere, expanded per batch instead of stored.
    prefetch : bool or "auto", default="auto"
        Gather the next batch in a background thread while the network trains
        on this one (host storage only; the batches are the same either way).
        "auto" prefetches on CUDA, where the copy to the device can overlap
        the step, and not on the CPU, where the gather is about 1 % of a step
        and the thread only competes for the cores (benchmarks/RESULTS.md).

    Attributes
    ----------
    store : FeatureStore
        Where the features are read from.
    n_batches : int
        Batches per epoch.

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
        class_weights=None,
        prefetch="auto",
    ):
        self.chunk_frames = int(chunk_frames)
        self.batch_size = int(batch_size)
        self.n_batches = max(1, math.ceil(chunks_per_epoch / batch_size))
        self.device = torch.device(device)
        if isinstance(videos, FeatureStore):
            if videos.device != self.device:
                raise ValueError(
                    f"the FeatureStore is for {videos.device}, the sampler for "
                    f"{self.device}."
                )
            self.store = videos
        else:
            self.store = FeatureStore(
                videos, device=self.device, dtype=feature_dtype, storage=storage
            )
        n_frames = self.store.n_frames
        _check_per_video("targets", targets, n_frames)
        _check_per_video("weights", weights, n_frames)
        if prefetch not in (True, False, "auto"):
            raise ValueError(
                f"prefetch must be True, False or 'auto', got {prefetch!r}."
            )
        self.prefetch = prefetch
        self._guess_ahead = True
        self._class_weights = None
        if class_weights is not None:
            for i, mask in enumerate(weights):
                if np.dtype(mask.dtype) != np.bool_:
                    raise TypeError(
                        f"with class_weights, weights are boolean masks; "
                        f"weights[{i}] (video {i}) has dtype {mask.dtype}."
                    )
            positive, negative = (
                np.asarray(w, dtype=np.float32) for w in class_weights
            )
            n_classes = targets[0].shape[1]  # 2-D: checked above
            for name, w in (("positive", positive), ("negative", negative)):
                if w.shape != (n_classes,):
                    raise ValueError(
                        f"class_weights ({name}) must have shape ({n_classes},), "
                        f"one weight per class of the targets; got {w.shape}."
                    )
            self._class_weights = (positive, negative)
        self._targets, self._weights = list(targets), list(weights)
        if self.store.location == "device":
            self._to_device()
        n_starts = np.maximum(n_frames - self.chunk_frames + 1, 1)
        self._n_frames = torch.as_tensor(n_frames, device=self.device)
        self._n_starts = torch.as_tensor(n_starts, device=self.device)
        self._offsets = torch.as_tensor(self.store.offsets, device=self.device)
        self._video_probability = torch.as_tensor(
            n_starts / n_starts.sum(), dtype=torch.float64, device=self.device
        )
        self._steps = torch.arange(self.chunk_frames, device=self.device)

    def _to_device(self):
        """One device tensor each for targets and weights (masks stay boolean)."""
        device = self.device
        same = all(t is w for t, w in zip(self._targets, self._weights))
        self._targets = fill_tensor(
            self._targets, dtype=_torch_dtype(self._targets[0]), device=device
        )
        if same:
            self._weights = self._targets
        else:
            self._weights = fill_tensor(
                self._weights, dtype=_torch_dtype(self._weights[0]), device=device
            )
        if self._class_weights is not None:
            self._class_weights = tuple(
                torch.as_tensor(w, device=device) for w in self._class_weights
            )

    def __len__(self):
        return self.n_batches

    def _draw(self):
        """Videos and chunk starts of one batch, from the global generator."""
        video = torch.multinomial(
            self._video_probability, self.batch_size, replacement=True
        )
        uniform = torch.rand(self.batch_size, device=self.device, dtype=torch.float64)
        start = (uniform * self._n_starts[video]).long()
        return video, start

    def sample(self):
        """Draw one batch: features ``(b, t, d)``, targets and weights ``(b, t, c)``.

        Uses the global torch random generator of the device, which ``fit``
        seeds from ``random_state``.
        """
        video, start = self._draw()
        if self.store.location == "device":
            return self._gather_on_device(video, start)
        return self._to_training_device(self._gather_on_host(video, start))

    # ------------------------------------------------------------ device storage
    def _gather_on_device(self, video, start):
        frame = start[:, None] + self._steps[None, :]
        n_frames = self._n_frames[video][:, None]
        valid = (frame < n_frames).unsqueeze(-1)
        index = self._offsets[video][:, None] + torch.minimum(frame, n_frames - 1)
        x = self.store.features[index]
        target = self._targets[index].to(torch.float32)
        if self._class_weights is None:
            weight = self._weights[index].to(torch.float32)
        else:
            positive, negative = self._class_weights
            weight = torch.where(self._weights[index], positive, negative)
        return x * valid.to(x.dtype), target * valid, weight * valid

    # -------------------------------------------------------------- host storage
    def _gather_on_host(self, video, start):
        """Copy the chunks out of the per-video arrays into host tensors.

        Features of another type than float32 (bfloat16) are read a chunk at
        a time as float32 and converted, so no float32 batch is staged.  On
        CUDA the tensors are pinned, and they are the ones handed to the
        asynchronous copy, so that torch's pinned-memory cache does not reuse
        them before the copy is done.
        """
        video = video.cpu().numpy()
        start = start.cpu().numpy()
        pin = self.device.type == "cuda"
        b, t, d = self.batch_size, self.chunk_frames, self.store.n_features
        n_classes = self._targets[0].shape[1]
        x = torch.empty((b, t, d), dtype=self.store.dtype, pin_memory=pin)
        target, weight = (
            torch.empty((b, t, n_classes), dtype=torch.float32, pin_memory=pin)
            for _ in range(2)
        )
        direct = x.dtype == torch.float32
        chunk = None if direct else np.empty((t, d), np.float32)
        lengths = np.minimum(self.store.n_frames[video] - start, t)
        for i, (v, s, n) in enumerate(zip(video, start, lengths)):
            rows = x[i].numpy() if direct else chunk
            rows[:n] = self.store._rows[v][s : s + n]
            _pad(rows, n)
            if not direct:
                x[i].copy_(torch.from_numpy(chunk))
        self._gather_targets(video, start, lengths, target.numpy(), weight.numpy())
        return x, target, weight

    def _gather_targets(self, video, start, lengths, target, weight):
        """Targets and weights of the chunks, expanded from the compact form."""
        masks = self._class_weights is not None
        mask = np.empty(target.shape, np.bool_) if masks else weight
        for i, (v, s, n) in enumerate(zip(video, start, lengths)):
            target[i, :n] = self._targets[v][s : s + n]
            mask[i, :n] = self._weights[v][s : s + n]
        if masks:
            positive, negative = self._class_weights
            weight[...] = negative
            np.copyto(weight, positive, where=mask)
        for i in np.flatnonzero(lengths < self.chunk_frames):
            _pad(target[i], lengths[i])
            _pad(weight[i], lengths[i])

    def _to_training_device(self, batch):
        if self.device.type == "cpu":
            return batch
        return tuple(tensor.to(self.device, non_blocking=True) for tensor in batch)

    # ----------------------------------------------------------------- iteration
    def _prefetching(self):
        if self.store.location == "device" or self.device.type not in ("cpu", "cuda"):
            return False
        if self.prefetch == "auto":
            return self.device.type == "cuda"
        return bool(self.prefetch)

    def __iter__(self):
        if not self._prefetching():
            for _ in range(self.n_batches):
                yield self.sample()
            return
        yield from self._iter_prefetched()

    def _iter_prefetched(self):
        """Batches in the order of :meth:`sample`, the next one gathered ahead."""
        device = self.device
        ahead = None  # (state before the draws, state after them, future)
        with ThreadPoolExecutor(max_workers=1) as pool:
            for k in range(self.n_batches):
                if ahead is not None and torch.equal(_rng_state(device), ahead[0]):
                    batch = ahead[2].result()
                    _set_rng_state(ahead[1], device)
                else:
                    if ahead is not None:
                        # the step drew random numbers (mixup, dropout): the
                        # guess was wrong and later ones would be too
                        ahead[2].result()
                        self._guess_ahead = False
                    video, start = self._draw()
                    batch = self._gather_on_host(video, start)
                ahead = None
                if self._guess_ahead and k + 1 < self.n_batches:
                    before = _rng_state(device)
                    video, start = self._draw()
                    after = _rng_state(device)
                    _set_rng_state(before, device)
                    future = pool.submit(self._gather_on_host, video, start)
                    ahead = (before, after, future)
                yield self._to_training_device(batch)
