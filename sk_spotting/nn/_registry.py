"""Registry of trunks (the temporal backbones between input MLP and head).

Trunks are looked up by name, in the style of ``torchvision.models``: a trunk is
registered as a *builder*, a function with typed keyword-only arguments that
returns an ``nn.Module``. Every builder accepts at least

- ``n_features_in`` (int): the width d of the per-frame features it receives,
- ``n_frames`` (int): the chunk length t it will be used with,

and may accept further keyword-only options (the built-in ``"unet"`` takes
``n_levels``, ``"transformer"`` takes ``size``). The module it returns maps
channels-first features ``(b, n_features_in, t)`` to ``(b, n_features_out, t)``
and exposes the integer attribute ``n_features_out``.

Method: Soares, Shah and Biswas, "Temporally precise action spotting in soccer
videos using dense detection anchors", ICIP 2022 (arXiv 2205.10450); docs/method.md.
"""

# Shape legend: b batch, t frames, d features (channels).

from collections.abc import Callable

from torch import nn

__all__ = [
    "available_trunks",
    "get_trunk",
    "get_trunk_builder",
    "register_trunk",
    "unregister_trunk",
]

TrunkBuilder = Callable[..., nn.Module]

_TRUNKS: dict[str, TrunkBuilder] = {}


def register_trunk(name: str) -> Callable[[TrunkBuilder], TrunkBuilder]:
    """Register a trunk builder under ``name`` (use as a decorator).

    Parameters
    ----------
    name : str
        Registry key. Must be a non-empty string that is not registered yet.

    Returns
    -------
    decorator : callable
        Registers the decorated builder and returns it unchanged.

    Raises
    ------
    ValueError
        If ``name`` is empty or already registered.

    Examples
    --------
    >>> from torch import nn
    >>> from sk_spotting.nn import register_trunk, get_trunk, unregister_trunk
    >>> class Identity(nn.Identity):
    ...     n_features_out = 64
    >>> @register_trunk("identity-example")
    ... def identity(*, n_features_in: int, n_frames: int) -> nn.Module:
    ...     return Identity()
    >>> get_trunk("identity-example", n_features_in=64, n_frames=8).n_features_out
    64
    >>> unregister_trunk("identity-example")
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"A trunk name must be a non-empty string, got {name!r}.")

    def decorator(builder: TrunkBuilder) -> TrunkBuilder:
        if name in _TRUNKS:
            raise ValueError(f"A trunk named {name!r} is already registered.")
        _TRUNKS[name] = builder
        return builder

    return decorator


def unregister_trunk(name: str) -> None:
    """Remove the trunk builder registered under ``name``.

    Parameters
    ----------
    name : str
        A registered trunk name.

    Raises
    ------
    ValueError
        If no trunk is registered under ``name``.

    Examples
    --------
    >>> from sk_spotting.nn import register_trunk, unregister_trunk
    >>> _ = register_trunk("tmp-example")(lambda **kwargs: None)
    >>> unregister_trunk("tmp-example")
    """
    get_trunk_builder(name)
    del _TRUNKS[name]


def get_trunk_builder(name: str) -> TrunkBuilder:
    """Return the builder registered under ``name``.

    Parameters
    ----------
    name : str
        A registered trunk name, see :func:`available_trunks`.

    Returns
    -------
    builder : callable
        The builder, called with keyword-only arguments.

    Raises
    ------
    ValueError
        If no trunk is registered under ``name``.

    Examples
    --------
    >>> from sk_spotting.nn import get_trunk_builder
    >>> get_trunk_builder("unet").__name__
    'unet_trunk'
    """
    try:
        return _TRUNKS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown trunk {name!r}; available trunks: {available_trunks()}."
        ) from None


def get_trunk(name: str, /, **kwargs) -> nn.Module:
    """Build the trunk registered under ``name``.

    Parameters
    ----------
    name : str
        A registered trunk name, see :func:`available_trunks`.
    **kwargs
        Keyword-only arguments of the builder (at least ``n_features_in`` and
        ``n_frames``).

    Returns
    -------
    trunk : torch.nn.Module
        Maps ``(b, n_features_in, t)`` to ``(b, trunk.n_features_out, t)``.

    Examples
    --------
    >>> from sk_spotting.nn import get_trunk
    >>> trunk = get_trunk("transformer", n_features_in=64, n_frames=16)
    >>> trunk.n_features_out
    128
    """
    return get_trunk_builder(name)(**kwargs)


def available_trunks() -> list[str]:
    """Names of all registered trunks, sorted.

    Returns
    -------
    names : list of str

    Examples
    --------
    >>> from sk_spotting.nn import available_trunks
    >>> {"transformer", "unet"} <= set(available_trunks())
    True
    """
    return sorted(_TRUNKS)
