"""Transformer-encoder trunk (docs/method.md, Networks).

Method: Soares, Shah and Biswas, ICIP 2022 (arXiv 2205.10450). Details follow
the authors' reference code: a learned positional table added to the 64-d
MLP output, ``Linear(64 -> H)``, pre-LN encoder layers with an exact-GELU FFN
of ``4 H``, and a final LayerNorm (eps ``1e-6``). No dropout, no mask.
"""

# Shape legend: b batch, t frames, d features, h attention heads. The trunk
# takes and returns channels-first (b, d, t) tensors and works on (b, t, d).

import torch
import torch.nn.functional as F
from torch import nn

from .._init import glorot_, truncated_normal_
from .._registry import register_trunk

__all__ = ["TRANSFORMER_SIZES", "TransformerTrunk", "transformer_trunk"]

TRANSFORMER_SIZES = {
    "small": {"n_layers": 4, "n_hidden": 128, "n_heads": 4, "n_ffn": 512},
    "base": {"n_layers": 12, "n_hidden": 256, "n_heads": 8, "n_ffn": 1024},
}
"""Paper sizes: DTE-Small and DTE-Base (FFN = 4 H reproduces docs/method.md)."""

_LAYER_NORM_EPS = 1e-6


class _SelfAttention(nn.Module):
    """Multi-head self-attention ``(b, t, d) -> (b, t, d)``.

    Equivalent to separate q/k/v/out ``Linear(d, d)`` layers with bias; q, k
    and v are stored as one ``(3 d, d)`` matrix so that they run as a single
    matmul, and each of the three ``(d, d)`` blocks is glorot-initialised on
    its own, like the Keras layers.
    """

    def __init__(self, n_hidden: int, n_heads: int):
        super().__init__()
        if n_hidden % n_heads:
            raise ValueError(
                f"n_hidden={n_hidden} must be divisible by n_heads={n_heads}."
            )
        self.n_heads = n_heads
        self.qkv = nn.Linear(n_hidden, 3 * n_hidden)
        self.out = glorot_(nn.Linear(n_hidden, n_hidden))
        with torch.no_grad():
            for block in self.qkv.weight.view(3, n_hidden, n_hidden):
                nn.init.xavier_uniform_(block)
            nn.init.zeros_(self.qkv.bias)

    def forward(self, x):
        b, t, d = x.shape
        qkv = self.qkv(x).view(b, t, 3, self.n_heads, d // self.n_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (b, h, t, d / h)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class _EncoderLayer(nn.Module):
    """Pre-LN encoder layer: ``x += MHA(LN(x))``; ``x += FFN(LN(x))``."""

    def __init__(self, n_hidden: int, n_heads: int, n_ffn: int):
        super().__init__()
        self.attention_norm = nn.LayerNorm(n_hidden, eps=_LAYER_NORM_EPS)
        self.attention = _SelfAttention(n_hidden, n_heads)
        self.ffn_norm = nn.LayerNorm(n_hidden, eps=_LAYER_NORM_EPS)
        self.ffn = nn.Sequential(
            nn.Linear(n_hidden, n_ffn), nn.GELU(), nn.Linear(n_ffn, n_hidden)
        )
        for linear in (self.ffn[0], self.ffn[2]):
            truncated_normal_(linear.weight)
            nn.init.zeros_(linear.bias)

    def forward(self, x):
        x = x + self.attention(self.attention_norm(x))
        return x + self.ffn(self.ffn_norm(x))


class TransformerTrunk(nn.Module):
    """Transformer-encoder trunk over the frames of a chunk (docs/method.md, Networks).

    A learned positional table ``(n_frames, n_features_in)`` is added to the
    input, which is then mapped to ``n_hidden`` by a linear layer, run through
    ``n_layers`` pre-LN encoder layers (attention via
    :func:`torch.nn.functional.scaled_dot_product_attention`, exact-GELU FFN)
    and a final LayerNorm. The positional table, the input mapping and the
    FFN use a truncated normal (std 0.02); the attention projections use
    glorot-uniform; biases start at zero.

    Parameters
    ----------
    n_features_in : int, default=64
        Input channels d.
    n_frames : int
        Chunk length, the size of the positional table; inputs may have at
        most this many frames.
    n_layers : int, default=4
        Number of encoder layers.
    n_hidden : int, default=128
        Hidden size H.
    n_heads : int, default=4
        Attention heads; must divide ``n_hidden``.
    n_ffn : int or None, default=None
        FFN hidden size; ``None`` means ``4 * n_hidden``.

    Attributes
    ----------
    n_features_out : int
        Output channels, ``n_hidden``.

    Examples
    --------
    >>> import torch
    >>> from sk_spotting.nn import TransformerTrunk
    >>> trunk = TransformerTrunk(n_frames=10, n_layers=1, n_hidden=32, n_heads=2)
    >>> tuple(trunk(torch.zeros(3, 64, 10)).shape)
    (3, 32, 10)
    """

    def __init__(
        self,
        *,
        n_features_in: int = 64,
        n_frames: int,
        n_layers: int = 4,
        n_hidden: int = 128,
        n_heads: int = 4,
        n_ffn: int | None = None,
    ):
        super().__init__()
        n_ffn = 4 * n_hidden if n_ffn is None else n_ffn
        self.n_features_in = n_features_in
        self.n_features_out = n_hidden
        self.position = nn.Parameter(
            truncated_normal_(torch.empty(n_frames, n_features_in))
        )
        self.embedding = nn.Linear(n_features_in, n_hidden)
        truncated_normal_(self.embedding.weight)
        nn.init.zeros_(self.embedding.bias)
        self.layers = nn.Sequential(
            *(_EncoderLayer(n_hidden, n_heads, n_ffn) for _ in range(n_layers))
        )
        self.final_norm = nn.LayerNorm(n_hidden, eps=_LAYER_NORM_EPS)

    def forward(self, x):
        """Encode the frames of a batch of chunks.

        Parameters
        ----------
        x : torch.Tensor of shape (b, n_features_in, t)
            Features, channels first; ``t`` at most ``n_frames``.

        Returns
        -------
        h : torch.Tensor of shape (b, n_hidden, t)
        """
        x = x.transpose(1, 2) + self.position[: x.shape[-1]]
        return self.final_norm(self.layers(self.embedding(x))).transpose(1, 2)


@register_trunk("transformer")
def transformer_trunk(
    *, n_features_in: int = 64, n_frames: int, size: str = "small"
) -> TransformerTrunk:
    """Build a paper-sized :class:`TransformerTrunk`.

    Parameters
    ----------
    n_features_in : int, default=64
        Input channels d.
    n_frames : int
        Chunk length t.
    size : {"small", "base"}, default="small"
        ``"small"``: 4 layers, H 128, 4 heads, FFN 512. ``"base"``: 12 layers,
        H 256, 8 heads, FFN 1024.

    Returns
    -------
    trunk : TransformerTrunk

    Examples
    --------
    >>> from sk_spotting.nn import transformer_trunk
    >>> transformer_trunk(n_frames=224, size="base").n_features_out
    256
    """
    if size not in TRANSFORMER_SIZES:
        raise ValueError(
            f"Unknown transformer size {size!r}; expected one of "
            f"{sorted(TRANSFORMER_SIZES)}."
        )
    if isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 1:
        raise ValueError(f"n_frames must be a positive int, got {n_frames!r}.")
    return TransformerTrunk(
        n_features_in=n_features_in, n_frames=n_frames, **TRANSFORMER_SIZES[size]
    )
