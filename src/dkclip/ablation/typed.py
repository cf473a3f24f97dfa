"""One loader for every JSON record of the study: :func:`from_dict` builds a dataclass from the dict that
``dataclasses.asdict`` wrote, by the field types alone, so no record needs a hand-written ``from_dict``.

The field types drive the conversion: nested dataclasses, ``X | None``, ``list[X]``, ``dict[str, X]``,
``tuple[X, ...]`` and fixed tuples are rebuilt recursively; ``int``, ``float``, ``str`` and ``bool`` values are
converted with their type (a JSON ``1`` read into a ``float`` field becomes ``1.0``, as the hand-written loaders
did); ``Any`` is kept as it is.

Older files lack keys that were added later: a missing key takes the field's default, and ``None`` when the field
is optional. A record whose older format needs more than that (a key that moved, a value that changed meaning)
defines ``upgrade_json(data) -> data``, which gets the raw dict before the fields are read.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar, Union

T = TypeVar("T")

_SCALARS: tuple[type, ...] = (bool, int, float, str)
_HINTS: dict[type, dict[str, Any]] = {}


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """The ``cls`` (a dataclass) that ``data`` describes; the inverse of ``dataclasses.asdict``."""
    upgrade = getattr(cls, "upgrade_json", None)
    if upgrade is not None:
        data = upgrade(dict(data))
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not f.init:
            continue
        if f.name in data:
            values[f.name] = _convert(hints[f.name], data[f.name], f"{cls.__name__}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            if not _optional(hints[f.name]):
                raise KeyError(f"{cls.__name__}: the key {f.name!r} is missing")
            values[f.name] = None
    return cls(**values)


def _hints(cls: type) -> dict[str, Any]:
    # The modules use ``from __future__ import annotations``: the annotations are strings, resolved once per class.
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _optional(tp: Any) -> bool:
    return _is_union(tp) and type(None) in typing.get_args(tp)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def _convert(tp: Any, value: Any, where: str) -> Any:
    if tp is Any:
        return value
    if _is_union(tp):
        if value is None:
            if type(None) not in typing.get_args(tp):
                raise TypeError(f"{where}: null where {tp} is expected")
            return None
        arms = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(arms) != 1:  # a record field is one type or that type or None; anything else is ambiguous here
            raise TypeError(f"{where}: cannot read the union {tp}")
        return _convert(arms[0], value, where)
    if value is None:
        raise TypeError(f"{where}: null where {tp} is expected")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return from_dict(tp, value)
    if tp in _SCALARS:
        return tp(value)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        return [_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        return {k: _convert(args[1], v, f"{where}[{k!r}]") for k, v in value.items()}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise TypeError(f"{where}: {len(value)} values where {tp} is expected")
        return tuple(_convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    raise TypeError(f"{where}: no reader for the type {tp}")
