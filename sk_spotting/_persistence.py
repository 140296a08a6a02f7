"""A model file that cannot run code: safetensors weights plus JSON settings.

:func:`save_spotter` writes a fitted :class:`~sk_spotting.DenseAnchorSpotter`
as one `safetensors <https://github.com/huggingface/safetensors>`_ file: the
weights of each network as tensors named ``<network>.<state_dict key>``, and
in the file's metadata, as JSON, everything else needed to predict and to
report: the estimator's parameters, ``classes_``, ``n_features_in_``, the
training history of each network, the format version and the version of
sk_spotting that wrote it.  :func:`load_spotter` reads it back without
unpickling anything: the networks are rebuilt from the parameters and every
tensor name, shape and type is checked against them.

Parameters are stored as JSON (rule in :func:`save_spotter`); see
docs/safety.md for the guarantees and their tests.
"""

from __future__ import annotations

import json
import numbers
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ._dense import DenseAnchorSpotter
from ._device import resolve_device
from ._files import atomic_write

__all__ = ["save_spotter", "load_spotter"]

FORMAT = "sk_spotting.spotter"
"""The ``format`` entry of the metadata of every file :func:`save_spotter` writes."""

FORMAT_VERSION = 1
"""Version of the file layout; a file from a newer version is refused."""

NETWORKS = ("confidence", "displacement")

# safetensors refuses headers over 100 MB; a larger one is no file of ours
_MAX_HEADER_BYTES = 100_000_000


class _Unsaved(Exception):
    """A parameter value that is not plain data (see :func:`_encode`)."""


# --------------------------------------------------------------------------
# parameters as JSON
# --------------------------------------------------------------------------


def _encode(value):
    """The JSON form of a parameter value; raise :class:`_Unsaved` if none.

    JSON numbers, strings, booleans, None and lists are themselves; numpy
    scalars become Python ones.  Tuples, dicts (string keys), numpy arrays of
    numbers or strings, paths and torch devices become one-key objects
    ``{"$tuple": [...]}``, ``{"$dict": {...}}``, ``{"$ndarray": [...],
    "dtype": ...}``, ``{"$path": ...}``, ``{"$device": ...}``, so that every
    JSON object is a tagged value and decoding is unambiguous.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v) for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise _Unsaved("a dict with keys that are not strings")
        return {"$dict": {k: _encode(v) for k, v in value.items()}}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufUO":
        return {
            "$ndarray": [_encode(v) for v in value.tolist()],
            "dtype": value.dtype.str,
        }
    if isinstance(value, os.PathLike) and isinstance(os.fspath(value), str):
        return {"$path": os.fspath(value)}
    if isinstance(value, torch.device):
        return {"$device": str(value)}
    raise _Unsaved(f"a {type(value).__module__}.{type(value).__qualname__}")


def _decode(value):
    """Inverse of :func:`_encode`; a ValueError for anything it never writes."""
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict) and len(value) >= 1:
        tag = next(iter(value))
        if tag == "$tuple" and len(value) == 1 and isinstance(value[tag], list):
            return tuple(_decode(v) for v in value[tag])
        if tag == "$dict" and len(value) == 1 and isinstance(value[tag], dict):
            return {k: _decode(v) for k, v in value[tag].items()}
        if (
            tag == "$ndarray"
            and set(value) == {"$ndarray", "dtype"}
            and isinstance(value[tag], list)
            and isinstance(value["dtype"], str)
            and np.dtype(value["dtype"]).kind in "biufUO"
        ):
            return np.asarray([_decode(v) for v in value[tag]], dtype=value["dtype"])
        if tag in ("$path", "$device") and len(value) == 1:
            if isinstance(value[tag], str):
                return value[tag] if tag == "$path" else torch.device(value[tag])
    raise ValueError(f"unreadable parameter value {json.dumps(value)[:80]}")


def _encode_params(spotter):
    """JSON parameters and ``{name: reason}`` of those not saved."""
    params, unsaved = {}, {}
    for name, value in spotter.get_params(deep=False).items():
        try:
            params[name] = _encode(value)
        except _Unsaved as exc:
            unsaved[name] = str(exc)
    return params, unsaved


def _plain(value):
    """A history value as plain JSON data, or raise :class:`_Unsaved`."""
    if isinstance(value, (np.generic, torch.Tensor)) and np.ndim(value) == 0:
        value = value.item()
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(v) for k, v in value.items()}
    raise _Unsaved(type(value).__name__)


def _encode_history(history, head):
    rows, dropped = [], set()
    for row in history:
        kept = {}
        for key, value in row.items():
            try:
                kept[key] = _plain(value)
            except _Unsaved:
                dropped.add(key)
        rows.append(kept)
    if dropped:
        warnings.warn(
            f"save_spotter: history entries {sorted(dropped)} of the {head} "
            f"network are not plain numbers or text and are not saved.",
            UserWarning,
            stacklevel=3,
        )
    return rows


# --------------------------------------------------------------------------
# saving
# --------------------------------------------------------------------------


def _fitted_nets(spotter):
    nets = {"confidence": spotter.confidence_net_}
    nets["displacement"] = getattr(spotter, "displacement_net_", None)
    return nets


def save_spotter(spotter, path):
    """Save a fitted spotter as one safetensors file that cannot run code.

    The file holds the weights of both networks as tensors and, in its
    metadata, a JSON document with the estimator's parameters, ``classes_``,
    ``n_features_in_``, the training history of each network, the format
    version and the sk_spotting version.  It is written atomically (a
    temporary file renamed over ``path``) and read back by
    :func:`load_spotter`, on any device, without unpickling.

    Parameters are saved when they hold plain data: numbers, strings,
    booleans, None, lists, tuples and string-keyed dicts of those, numpy
    arrays of numbers or strings, paths and torch devices.  A parameter
    holding anything else (a ``RandomState`` instance as ``random_state``,
    callback objects) is not saved, with a warning; the loaded spotter has
    that parameter's default value.  Its networks are unaffected.

    Parameters
    ----------
    spotter : DenseAnchorSpotter
        A fitted spotter (not a pipeline around one).
    path : str or path-like
        File to write; an existing file is replaced.  ``.safetensors`` is
        the usual suffix.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    TypeError
        If ``spotter`` is not a :class:`~sk_spotting.DenseAnchorSpotter`.
    sklearn.exceptions.NotFittedError
        If it is not fitted.

    See Also
    --------
    load_spotter : Read the file back.

    Notes
    -----
    A spotter also pickles whole with :func:`joblib.dump`, but loading a
    pickle runs any code the file holds: never load a pickle from an
    untrusted source.  Loading a file written by this function runs none.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sk_spotting import DenseAnchorSpotter, load_spotter, save_spotter
    >>> from sk_spotting.datasets import make_spotting_data
    >>> X, y = make_spotting_data(2, n_features=8, minutes=2.0, random_state=0)
    >>> spotter = DenseAnchorSpotter(chunk_duration=16.0, unet_levels=2, epochs=1,
    ...                              chunks_per_epoch=8, batch_size=4,
    ...                              random_state=0).fit(X, y)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = save_spotter(spotter, Path(tmp) / "spotter.safetensors")
    ...     loaded = load_spotter(path)
    >>> loaded.predict(X)[0].equals(spotter.predict(X)[0])
    True
    """
    from safetensors.torch import save

    from . import __version__

    if not isinstance(spotter, DenseAnchorSpotter):
        raise TypeError(
            f"save_spotter takes a fitted DenseAnchorSpotter, got "
            f"{type(spotter).__name__}; save the spotter itself (e.g. "
            f"pipeline[-1]), or pickle other objects with joblib."
        )
    check_is_fitted(spotter, "confidence_net_")
    params, unsaved = _encode_params(spotter)
    if unsaved:
        defaults = DenseAnchorSpotter().get_params(deep=False)
        detail = ", ".join(
            f"{name} ({reason}; loads as {defaults[name]!r})"
            for name, reason in unsaved.items()
        )
        warnings.warn(
            f"save_spotter: parameter(s) not saved: {detail}.",
            UserWarning,
            stacklevel=2,
        )
    networks, tensors = {}, {}
    for head, net in _fitted_nets(spotter).items():
        if net is None:
            networks[head] = None
            continue
        networks[head] = {"history": _encode_history(net.history, head)}
        for key, value in net.module_.state_dict().items():
            tensors[f"{head}.{key}"] = value.detach().to("cpu", copy=True).contiguous()
    document = {
        "estimator": type(spotter).__name__,
        "library_version": __version__,
        "params": params,
        "unsaved_params": sorted(unsaved),
        "classes_": [str(c) for c in spotter.classes_],
        "n_features_in_": int(spotter.n_features_in_),
        "networks": networks,
    }
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "spotter": json.dumps(document),
    }
    return atomic_write(path, save(tensors, metadata=metadata))


# --------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------


def describe_file(data):
    """What the first bytes of a file look like, to explain a refusal.

    Pickles (``joblib.dump``, ``pickle.dump``), compressed joblib pickles and
    zip archives (``torch.save``) are told apart from safetensors files and
    from files of no known kind.

    Parameters
    ----------
    data : bytes
        The start of the file (9 bytes or more).

    Returns
    -------
    kind : str or None
        A short noun phrase such as ``"a pickle (...)"``; None for the start
        of a safetensors file or of nothing known.

    Examples
    --------
    >>> import pickle
    >>> from sk_spotting._persistence import describe_file
    >>> describe_file(pickle.dumps({"a": 1}))
    'a pickle (joblib.dump or pickle.dump)'
    >>> describe_file(b"hello world") is None
    True
    """
    n_header = int.from_bytes(data[:8], "little")
    if n_header <= _MAX_HEADER_BYTES and data[8:9] == b"{":
        return None  # a safetensors header (whose size may look like magic)
    if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a pickle (joblib.dump or pickle.dump)"
    compressed = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x04\x22\x4d\x18", b"ZF")
    zlib = data[:1] == b"x" and len(data) > 1 and (data[0] * 256 + data[1]) % 31 == 0
    if data.startswith(compressed) or zlib:
        return "a compressed file (joblib.dump(..., compress=...) writes these)"
    if data.startswith(b"PK\x03\x04"):
        return "a zip archive (torch.save writes these)"
    return None


def _read_header(data, where):
    """The safetensors header of ``data`` as a dict, after size checks."""
    if len(data) < 8:
        raise ValueError(f"{where} is truncated or empty: it has {len(data)} bytes.")
    n_header = int.from_bytes(data[:8], "little")
    if len(data) == 8 and n_header <= _MAX_HEADER_BYTES:
        raise ValueError(
            f"{where} is truncated: it ends after the first 8 bytes, before the "
            f"safetensors header."
        )
    if n_header > _MAX_HEADER_BYTES or data[8:9] != b"{":
        kind = describe_file(data[:9])
        if kind is not None:
            raise ValueError(
                f"{where} is {kind}, not an sk_spotting model file (save_spotter "
                f"writes safetensors); sk_spotting never unpickles a model file."
            )
        raise ValueError(
            f"{where} is not an sk_spotting model file (not a safetensors file)."
        )
    if 8 + n_header > len(data):
        raise ValueError(
            f"{where} is truncated: its header announces {n_header} bytes but the "
            f"file has {len(data)} in all."
        )
    try:
        header = json.loads(data[8 : 8 + n_header].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(
            f"{where} is not an sk_spotting model file (its safetensors header "
            f"is not JSON)."
        ) from None
    if not isinstance(header, dict):
        raise ValueError(f"{where} is not a safetensors file (bad header).")
    ends = [
        entry["data_offsets"][1]
        for name, entry in header.items()
        if name != "__metadata__"
        and isinstance(entry, dict)
        and isinstance(entry.get("data_offsets"), list)
        and len(entry["data_offsets"]) == 2
        and isinstance(entry["data_offsets"][1], int)
    ]
    n_data = len(data) - 8 - n_header
    if max(ends, default=0) > n_data:
        raise ValueError(
            f"{where} is truncated: it holds {n_data} bytes of tensor data, its "
            f"header announces {max(ends)}."
        )
    return header


def _document(header, where):
    """The JSON document of an sk_spotting file, migrated to this version."""
    from . import __version__

    metadata = header.get("__metadata__")
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError(
            f"{where} is a safetensors file but not an sk_spotting spotter (no "
            f"'format': '{FORMAT}' in its metadata); it was written by another "
            f"library."
        )
    try:
        version = int(metadata.get("format_version", ""))
        document = json.loads(metadata.get("spotter", ""))
    except ValueError:
        raise ValueError(
            f"{where} has an unreadable format version or spotter description."
        ) from None
    made_by = "an unknown sk_spotting version"
    if isinstance(document, dict) and isinstance(document.get("library_version"), str):
        made_by = f"sk_spotting {document['library_version']}"
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{where} was written by {made_by} in model format version {version}; "
            f"this sk_spotting ({__version__}) reads versions up to "
            f"{FORMAT_VERSION}: upgrade sk_spotting to load it."
        )
    if version < 1:
        raise ValueError(
            f"{where} has model format version {version} (written by {made_by}), "
            f"which no sk_spotting reads."
        )
    # Files of an older format version are migrated here when one exists.
    if not isinstance(document, dict):
        raise ValueError(f"{where}: the spotter description is not a JSON object.")
    return document, made_by


def _check_document(document, where):
    """Required keys and types of the JSON document (raise on any mismatch)."""

    def fail(what):
        raise ValueError(f"{where}: malformed spotter description: {what}.")

    required = {
        "estimator": str,
        "library_version": str,
        "params": dict,
        "unsaved_params": list,
        "classes_": list,
        "n_features_in_": int,
        "networks": dict,
    }
    for key, kind in required.items():
        if key not in document:
            fail(f"missing {key!r}")
        if not isinstance(document[key], kind) or isinstance(document[key], bool):
            fail(f"{key!r} must be a {kind.__name__}")
    if document["estimator"] != DenseAnchorSpotter.__name__:
        raise ValueError(
            f"{where} holds a {document['estimator']!r}, which load_spotter "
            f"does not load (it loads a DenseAnchorSpotter)."
        )
    classes = document["classes_"]
    if not classes or not all(isinstance(c, str) for c in classes):
        fail("'classes_' must be a non-empty list of strings")
    if len(set(classes)) != len(classes):
        fail("'classes_' has duplicates")
    if document["n_features_in_"] < 1:
        fail("'n_features_in_' must be >= 1")
    if not all(isinstance(p, str) for p in document["unsaved_params"]):
        fail("'unsaved_params' must be a list of names")
    networks = document["networks"]
    if set(networks) != set(NETWORKS):
        fail(f"'networks' must have the keys {list(NETWORKS)}")
    for head in NETWORKS:
        net = networks[head]
        if net is None and head != "confidence":
            continue
        if not isinstance(net, dict) or not isinstance(net.get("history"), list):
            fail(f"network {head!r} must be an object with a 'history' list")
        if not all(
            isinstance(row, dict) and all(isinstance(k, str) for k in row)
            for row in net["history"]
        ):
            fail(f"the history of network {head!r} must be a list of objects")


def _rebuild_estimator(document, where, made_by, device=None):
    from sklearn.utils._param_validation import InvalidParameterError

    spotter = DenseAnchorSpotter()
    known = spotter.get_params(deep=False)
    unknown = sorted(set(document["params"]) - set(known))
    if unknown:
        raise ValueError(
            f"{where} was written by {made_by} with parameter(s) {unknown} that "
            f"this sk_spotting does not have; load it with that version."
        )
    try:
        params = {k: _decode(v) for k, v in document["params"].items()}
        spotter.set_params(**params)
        if device is not None:
            spotter.set_params(device=device)
        _fall_back_to_an_available_device(spotter)
        spotter._validate_params()
    except (InvalidParameterError, ValueError, TypeError, RuntimeError) as exc:
        # (torch.device raises RuntimeError for an unknown device string)
        raise ValueError(f"{where}: bad saved parameters: {exc}") from None
    spotter.classes_ = np.asarray(document["classes_"], dtype=object)
    spotter.n_features_in_ = document["n_features_in_"]
    has_displacement = document["networks"]["displacement"] is not None
    if has_displacement != bool(spotter.use_displacement):
        raise ValueError(
            f"{where}: use_displacement={spotter.use_displacement} but the file "
            f"{'has' if has_displacement else 'has no'} displacement network."
        )
    return spotter


def _fall_back_to_an_available_device(spotter):
    """A spotter saved for a device this machine lacks loads on the CPU."""
    try:
        resolve_device(spotter.device)
    except ValueError as exc:
        warnings.warn(
            f"the spotter was saved with device={str(spotter.device)!r}, which "
            f"this machine cannot use (CUDA is not available or {exc}); it is "
            f"loaded with device='cpu' (pass device= to load_spotter to choose).",
            UserWarning,
            stacklevel=4,
        )
        spotter.set_params(device="cpu")


def _target_device(spotter):
    return resolve_device(spotter.device)


def _check_tensors(module, head, tensors, where):
    """Tensor names, shapes and types of ``head`` against the rebuilt module."""
    expected = module.state_dict()
    prefix = f"{head}."
    saved = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    missing = sorted(set(expected) - set(saved))
    unexpected = sorted(set(saved) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{where}: the {head} network's tensors do not match the network its "
            f"parameters build (missing {missing[:3]}, unexpected "
            f"{unexpected[:3]})."
        )
    for key, value in expected.items():
        if saved[key].shape != value.shape or saved[key].dtype != value.dtype:
            raise ValueError(
                f"{where}: tensor '{prefix}{key}' is {saved[key].dtype} of shape "
                f"{tuple(saved[key].shape)}; the network needs {value.dtype} of "
                f"shape {tuple(value.shape)}."
            )
    return saved


def _network_states(spotter, document, tensors, where):
    """The saved state of each network, checked against a weightless build.

    The networks are first built on the ``meta`` device (shapes only, no
    memory, no random draws), so that a file announcing absurd sizes is
    refused before anything is allocated.
    """
    states = {}
    for head in NETWORKS:
        if document["networks"][head] is None:
            continue
        with torch.device("meta"):
            skeleton = spotter._build_module(head)
        states[head] = _check_tensors(skeleton, head, tensors, where)
    known = {f"{head}.{key}" for head, state in states.items() for key in state}
    unexpected = sorted(set(tensors) - known)
    if unexpected:
        raise ValueError(f"{where}: unexpected tensors {unexpected[:3]}.")
    return states


def _rebuild_net(spotter, head, state, history, device):
    from skorch.history import History

    from .training import ConfidenceCriterion, DisplacementCriterion, SpottingNet

    with torch.random.fork_rng(devices=[]):  # building draws initial weights
        module = spotter._build_module(head)
    module.load_state_dict(state, strict=True)
    if head == "confidence":
        criterion = ConfidenceCriterion()
    else:
        criterion = DisplacementCriterion(radius=spotter._displacement_radius_frames)
    net = SpottingNet(module, criterion=criterion, device=device)
    net.initialize()
    net.history = History([dict(row) for row in history])
    return net


def load_spotter(path, *, device=None):
    """Load a spotter saved by :func:`save_spotter`, running no code from the file.

    The file is checked before anything is built: it must be a complete
    safetensors file whose metadata says ``format`` ``"sk_spotting.spotter"``
    and a format version this sk_spotting reads, with a well-formed JSON
    description; the networks are then rebuilt from the saved parameters and
    every tensor name, shape and type must match them.  Any mismatch is a
    :class:`ValueError` of one line naming the file and what is wrong.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_spotter`.
    device : str or torch.device, default=None
        Sets the spotter's ``device`` parameter before its networks are
        placed; None keeps the saved one.  Tensors are read on the CPU and
        moved to the device that parameter resolves to: with the default
        ``"auto"``, CUDA when available, else the CPU, so a spotter fitted
        on a GPU loads on a CPU-only machine.  A saved ``"cuda"`` without
        CUDA loads on the CPU with a warning.

    Returns
    -------
    spotter : DenseAnchorSpotter
        Fitted: ``classes_``, ``n_features_in_``, and ``confidence_net_`` /
        ``displacement_net_`` with their weights and training history.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is truncated, from another library or a newer format
        version, a pickle, or inconsistent.

    See Also
    --------
    save_spotter : Write the file.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sk_spotting import DenseAnchorSpotter, load_spotter, save_spotter
    >>> from sk_spotting.datasets import make_spotting_data
    >>> X, y = make_spotting_data(2, n_features=8, minutes=2.0, random_state=0)
    >>> spotter = DenseAnchorSpotter(chunk_duration=16.0, unet_levels=2, epochs=1,
    ...                              chunks_per_epoch=8, batch_size=4,
    ...                              random_state=0).fit(X, y)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = save_spotter(spotter, Path(tmp) / "spotter.safetensors")
    ...     loaded = load_spotter(path, device="cpu")
    ...     _ = Path(tmp, "truncated.safetensors").write_bytes(path.read_bytes()[:-9])
    ...     load_spotter(Path(tmp, "truncated.safetensors"))
    Traceback (most recent call last):
    ...
    ValueError: model file '.../truncated.safetensors' is truncated: it holds ...
    >>> list(loaded.classes_) == list(spotter.classes_), loaded.device
    (True, 'cpu')
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    where = f"model file {str(path)!r}"
    if not path.is_file():
        if path.exists():
            raise ValueError(f"{where} is not a file.")
        raise FileNotFoundError(f"{where} does not exist.")
    data = path.read_bytes()
    header = _read_header(data, where)
    document, made_by = _document(header, where)
    _check_document(document, where)
    spotter = _rebuild_estimator(document, where, made_by, device)
    try:
        tensors = load(data)
    except SafetensorError as exc:
        raise ValueError(f"{where} is corrupt: {exc}") from None
    del data
    states = _network_states(spotter, document, tensors, where)
    del tensors
    target = _target_device(spotter)
    nets = {"displacement": None}
    for head, state in states.items():
        history = document["networks"][head]["history"]
        nets[head] = _rebuild_net(spotter, head, state, history, target)
    spotter.confidence_net_ = nets["confidence"]
    spotter.displacement_net_ = nets["displacement"]
    return spotter
