"""1-D u-net trunk (docs/method.md, Networks).

Method: Soares, Shah and Biswas, ICIP 2022 (arXiv 2205.10450). Details the
paper leaves open follow the authors' reference code: pre-activation
ResNet-V2 bottleneck blocks without normalisation, widths ``min(64 * 2**i,
2048)``, two blocks per level on both paths, max-pool down, ``ReLU ->
ConvTranspose(k2, s2)`` up, additive skips and a final ReLU.
"""

# Shape legend: b batch, t frames, d features (channels). Tensors here are
# channels-first, (b, d, t), as torch.nn.Conv1d expects.

import torch.nn.functional as F
from torch import nn

from .._init import glorot_
from .._registry import register_trunk

__all__ = ["UNetTrunk", "unet_trunk"]

_BASE_WIDTH = 64
_MAX_WIDTH = 2048
_MAX_DEFAULT_LEVELS = 6
_BLOCKS_PER_LEVEL = 2


class _Bottleneck(nn.Module):
    """Pre-activation bottleneck block ``(b, n_in, t) -> (b, n_out, t)``.

    ``a = relu(x)``; ``h = conv1x1(relu(conv3(relu(conv1x1(a)))))`` with
    bottleneck width ``n_out // 4``; the output is ``x + h``, or
    ``conv1x1(a) + h`` when the width changes.
    """

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        n_bottleneck = n_out // 4
        self.reduce = glorot_(nn.Conv1d(n_in, n_bottleneck, 1))
        self.conv = glorot_(nn.Conv1d(n_bottleneck, n_bottleneck, 3, padding=1))
        self.expand = glorot_(nn.Conv1d(n_bottleneck, n_out, 1))
        self.projection = glorot_(nn.Conv1d(n_in, n_out, 1)) if n_in != n_out else None

    def forward(self, x):
        a = F.relu(x)
        h = self.expand(F.relu(self.conv(F.relu(self.reduce(a)))))
        return (x if self.projection is None else self.projection(a)) + h


def _stack(n_in: int, n_out: int) -> list[nn.Module]:
    """The blocks of one level; the first one changes the width."""
    widths = [n_in] + [n_out] * _BLOCKS_PER_LEVEL
    return [_Bottleneck(a, b) for a, b in zip(widths[:-1], widths[1:])]


class UNetTrunk(nn.Module):
    """1-D u-net of pre-activation bottleneck blocks (docs/method.md, Networks).

    Level ``i`` has ``min(64 * 2**i, 2048)`` channels and runs at ``t / 2**i``
    frames. The contracting path is two blocks at level 0, then for each
    deeper level a ``MaxPool1d(2)`` and two blocks. The expanding path starts
    from the deepest output and, for each shallower level, applies
    ``ConvTranspose1d(k=2, s=2)`` to its ReLU, adds the skip of that level and
    runs two blocks. A ReLU ends the trunk. Kernels are glorot-uniform and
    biases zero.

    Parameters
    ----------
    n_features_in : int, default=64
        Input channels d.
    n_levels : int, default=6
        Number of resolutions (``n_levels - 1`` contractions). The frame count
        must be divisible by ``2 ** (n_levels - 1)``.

    Attributes
    ----------
    n_features_out : int
        Output channels (64).
    widths : list of int
        Channels of each level.

    Examples
    --------
    >>> import torch
    >>> from sk_spotting.nn import UNetTrunk
    >>> trunk = UNetTrunk(n_features_in=64, n_levels=3)
    >>> trunk.widths
    [64, 128, 256]
    >>> tuple(trunk(torch.zeros(2, 64, 8)).shape)
    (2, 64, 8)
    """

    def __init__(self, *, n_features_in: int = 64, n_levels: int = 6):
        super().__init__()
        _check_n_levels(n_levels)
        self.n_features_in = n_features_in
        self.n_levels = n_levels
        self.widths = [min(_BASE_WIDTH * 2**i, _MAX_WIDTH) for i in range(n_levels)]
        self.n_features_out = self.widths[0]
        inputs = [n_features_in] + self.widths[:-1]
        self.down = nn.ModuleList(
            nn.Sequential(*([nn.MaxPool1d(2)] if i else []), *_stack(n_in, n_out))
            for i, (n_in, n_out) in enumerate(zip(inputs, self.widths))
        )
        # Expanding path, deepest first: level i receives level i + 1.
        shallower = list(reversed(self.widths[:-1]))
        deeper = list(reversed(self.widths[1:]))
        self.up = nn.ModuleList(
            nn.Sequential(nn.ReLU(), glorot_(nn.ConvTranspose1d(n_in, n_out, 2, 2)))
            for n_in, n_out in zip(deeper, shallower)
        )
        self.up_blocks = nn.ModuleList(
            nn.Sequential(*_stack(width, width)) for width in shallower
        )

    @staticmethod
    def default_n_levels(n_frames: int) -> int:
        """Levels derived from the chunk length: ``min(6, 1 + v2(n_frames))``.

        ``v2`` is the number of times 2 divides ``n_frames``, so the deepest
        level still has a whole number of frames. This gives the paper's 6
        levels at 224 frames and 5 at 112.

        Parameters
        ----------
        n_frames : int
            Chunk length t, positive.

        Returns
        -------
        n_levels : int

        Examples
        --------
        >>> from sk_spotting.nn import UNetTrunk
        >>> UNetTrunk.default_n_levels(224), UNetTrunk.default_n_levels(112)
        (6, 5)
        """
        _check_n_frames(n_frames)
        n_levels = 1
        while n_levels < _MAX_DEFAULT_LEVELS and n_frames % 2**n_levels == 0:
            n_levels += 1
        return n_levels

    def forward(self, x):
        """Encode the frames of a batch of chunks.

        Parameters
        ----------
        x : torch.Tensor of shape (b, n_features_in, t)
            Features, channels first.

        Returns
        -------
        h : torch.Tensor of shape (b, 64, t)
        """
        skips = []
        for level in self.down:
            x = level(x)
            skips.append(x)
        for up, blocks, skip in zip(self.up, self.up_blocks, reversed(skips[:-1])):
            x = blocks(up(x) + skip)
        return F.relu(x)


def _check_n_frames(n_frames) -> None:
    if isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 1:
        raise ValueError(f"n_frames must be a positive int, got {n_frames!r}.")


def _check_n_levels(n_levels) -> None:
    if isinstance(n_levels, bool) or not isinstance(n_levels, int) or n_levels < 1:
        raise ValueError(f"n_levels must be a positive int, got {n_levels!r}.")


@register_trunk("unet")
def unet_trunk(
    *, n_features_in: int = 64, n_frames: int, n_levels: int | None = None
) -> UNetTrunk:
    """Build a :class:`UNetTrunk` for chunks of ``n_frames`` frames.

    Parameters
    ----------
    n_features_in : int, default=64
        Input channels d.
    n_frames : int
        Chunk length t.
    n_levels : int or None, default=None
        Number of resolutions. ``None`` derives it from ``n_frames`` with
        :meth:`UNetTrunk.default_n_levels`.

    Returns
    -------
    trunk : UNetTrunk

    Raises
    ------
    ValueError
        If ``n_frames`` is not divisible by ``2 ** (n_levels - 1)``.

    Examples
    --------
    >>> from sk_spotting.nn import unet_trunk
    >>> unet_trunk(n_frames=112).n_levels
    5
    """
    _check_n_frames(n_frames)
    if n_levels is None:
        n_levels = UNetTrunk.default_n_levels(n_frames)
    _check_n_levels(n_levels)
    if n_frames % 2 ** (n_levels - 1):
        raise ValueError(
            f"A u-net with n_levels={n_levels} halves the time axis "
            f"{n_levels - 1} times, so n_frames must be divisible by "
            f"2**{n_levels - 1} = {2 ** (n_levels - 1)}; got n_frames={n_frames}. "
            f"Use n_levels=None to derive the levels from n_frames."
        )
    return UNetTrunk(n_features_in=n_features_in, n_levels=n_levels)
