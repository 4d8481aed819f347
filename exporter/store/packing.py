"""A compact, faithful form of a TrainingJob for the store's finished jobs.

A finished job never changes again and is read back rarely (when SageMaker reports a change
or its segment is rendered again), but a fleet is mostly finished jobs: as objects, each
costs ~2 KiB (a float is 24 bytes, a small object 50-100). Packed with marshal into one
bytes object it costs a third of that, and unpacking gives back an equal job.

Generic over the model: the codec is derived from TrainingJob's type hints, so a field added
to the model (a plain value, an enum, a frozen dataclass or a tuple of any of these) is
packed with no change here. The codec checks at import that it knows every field's shape.
"""

from __future__ import annotations

import dataclasses
import enum
import marshal
import sys
import types
import typing
from collections.abc import Callable
from typing import Any

from exporter.model import TrainingJob

_Decode = Callable[[Any], Any]
# Strings are interned when packed, and marshal keeps the interned flag, so an unpacked job
# shares its statuses, instance types, image URI, metric names and tags with every other
# job holding the same value. Only a job's own name and ARN are never shared.
_UNIQUE_FIELDS = frozenset({"name", "arn"})


def _is_value(tp: Any) -> bool:
    """str, float, int, bool, None or a union/optional of those: marshal stores them as is."""
    if tp in (str, float, int, bool, type(None)):
        return True
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return all(_is_value(a) for a in typing.get_args(tp))
    return False


def _codec(tp: Any) -> tuple[Callable[[Any], Any], _Decode] | None:
    """(encode, decode) for a field type, or None when it is a plain value."""
    if _is_value(tp):
        return None
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            inner = _codec(args[0])
            if inner is None:
                return (lambda v: tuple(map(_shared, v)), tuple)
            enc, dec = inner
            return (lambda v: tuple(enc(x) for x in v), lambda v: tuple(dec(x) for x in v))
        if all(_is_value(a) for a in args):
            return (lambda v: tuple(map(_shared, v)), tuple)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = _codec(options[0]) if len(options) == 1 else None
        if optional is None:
            raise TypeError(f"packing: no codec for field type {tp!r}")
        enc, dec = optional
        return (
            lambda v: None if v is None else enc(v),
            lambda v: None if v is None else dec(v),
        )
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        enum_cls: Any = tp
        return (lambda v: v.value, enum_cls)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = typing.get_type_hints(tp)
        names = [f.name for f in dataclasses.fields(tp)]
        codecs = [_codec(hints[n]) for n in names]
        cls: Any = tp

        def encode(v: Any) -> tuple[Any, ...]:
            return tuple(
                _shared(getattr(v, n)) if c is None else c[0](getattr(v, n))
                for n, c in zip(names, codecs, strict=True)
            )

        def decode(v: Any) -> Any:
            return cls(*(x if c is None else c[1](x) for x, c in zip(v, codecs, strict=True)))

        return (encode, decode)
    raise TypeError(f"packing: no codec for field type {tp!r}")


def _shared(value: Any) -> Any:
    return sys.intern(value) if type(value) is str else value


_HINTS = typing.get_type_hints(TrainingJob)
_FIELDS = tuple(f.name for f in dataclasses.fields(TrainingJob))
_CODECS = tuple(_codec(_HINTS[n]) for n in _FIELDS)


def pack(job: TrainingJob) -> bytes:
    values = []
    for name, codec in zip(_FIELDS, _CODECS, strict=True):
        v = getattr(job, name)
        if codec is not None:
            v = codec[0](v)
        elif name not in _UNIQUE_FIELDS and type(v) is str:
            v = sys.intern(v)
        values.append(v)
    return marshal.dumps(tuple(values))


def unpack(data: bytes) -> TrainingJob:
    values = marshal.loads(data)
    return TrainingJob(*(v if c is None else c[1](v) for v, c in zip(values, _CODECS, strict=True)))


def compact(job: TrainingJob) -> TrainingJob:
    """An equal job whose repeated strings are shared (see pack): for jobs kept as objects."""
    return unpack(pack(job))
