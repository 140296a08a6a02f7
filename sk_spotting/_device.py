"""Which torch device and precision a spotter runs on, checked before any work."""

from __future__ import annotations

import torch

__all__ = ["available_devices", "resolve_autocast", "resolve_device"]


def available_devices():
    """The devices this machine can run on, as strings.

    Examples
    --------
    >>> from sk_spotting._device import available_devices
    >>> available_devices()[0]
    'cpu'
    """
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def resolve_device(device):
    """The device string of a ``device`` parameter, or a clear error.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"``, ``"mps"``, or a :class:`torch.device`.

    Returns
    -------
    device : str

    Raises
    ------
    ValueError
        When ``device`` is not a device name, or names a device this machine
        does not have; the message lists the available ones.

    Examples
    --------
    >>> from sk_spotting._device import resolve_device
    >>> resolve_device("cpu")
    'cpu'
    >>> resolve_device("gpu")
    Traceback (most recent call last):
    ...
    ValueError: device='gpu' is not a torch device name ...
    """
    if isinstance(device, str) and device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    available = ", ".join(["auto"] + available_devices())
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"device={device!r} is not a torch device name (use 'cuda' for an "
            f"NVIDIA GPU); available here: {available}."
        ) from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r}, but CUDA is not available on this machine "
                f"(torch {torch.__version__}, {torch.cuda.device_count()} GPU "
                f"visible); available here: {available}."
            )
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r}, but this machine has "
                f"{torch.cuda.device_count()} CUDA device(s); available here: "
                f"{available}."
            )
    elif parsed.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(
                f"device={device!r}, but MPS is not available on this machine; "
                f"available here: {available}."
            )
    elif parsed.type != "cpu":
        raise ValueError(
            f"device={device!r} is not supported; available here: {available}."
        )
    return str(parsed)


def resolve_autocast(precision, device):
    """The autocast dtype of a ``precision`` parameter on ``device``.

    Examples
    --------
    >>> from sk_spotting._device import resolve_autocast
    >>> resolve_autocast("auto", "cpu") is None
    True
    """
    if precision == "auto":
        return torch.bfloat16 if torch.device(device).type == "cuda" else None
    return {"float32": None, "bfloat16": torch.bfloat16}[precision]
