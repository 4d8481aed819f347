"""The one shape of a metric family, kube-state-metrics style, for every kind of object.

A `Family` is data: a name, a type, a help text, its extra label names (for the docs) and
one function of (object, context) that yields (extra labels, value) samples. A `Table` is
the families of one kind of object with the identity labels every sample carries, declared
once (training_job/region/account_id, tuning_job/region/account_id): the renderer
(exporter.metrics.text) adds them, a family function never does. A missing optional field
yields no sample, never a fake zero.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import attrgetter
from typing import Generic, TypeVar

from exporter.parse.prices import Prices

Labels = tuple[tuple[str, str], ...]
Sample = tuple[Labels, float]
Obj = TypeVar("Obj")  # the kind of object a table renders


@dataclass(frozen=True, slots=True)
class RenderContext:
    """What an object's samples depend on besides the object: where it lives and when we
    looked."""

    region: str
    account_id: str
    now: float
    tag_labels: tuple[str, ...] = ()
    prices: Prices | None = None  # None: no --price-file nor --price-list-api, no cost
    #: --finished-series full: a finished object keeps every family, as a running one does
    #: (lean, the default, keeps only the families marked `finished`).
    full: bool = False

    def lean(self, finished: bool) -> bool:
        """Is this object rendered lean: finished, and not --finished-series full?"""
        return finished and not self.full


@dataclass(frozen=True, slots=True)
class Family(Generic[Obj]):
    name: str
    type: str
    help: str
    labels: tuple[str, ...]
    samples: Callable[[Obj, RenderContext], Iterable[Sample]]
    #: Served for a finished object by default. A family that answers only what a running
    #: object needs (its limits, the start of its current phase, its progress) is not: every
    #: series a finished object keeps is paid for until --retention drops it.
    finished: bool = True


@dataclass(frozen=True, slots=True)
class Table(Generic[Obj]):
    """The families of one kind of object. `identity` are the label names every sample
    starts with: the object's name (`name_of`), then region and account_id from the
    context, then `extra_identity` of the object (a host within a job)."""

    identity: tuple[str, ...]
    families: tuple[Family[Obj], ...]
    name_of: Callable[[Obj], str]
    extra_identity: Callable[[Obj], Labels] = lambda _: ()
    #: Is the object finished (for the lean families of a finished object)? Never, by default.
    is_finished: Callable[[Obj], bool] = lambda _: False

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.families)


def one(value: float | None) -> Iterable[Sample]:
    """A label-less sample when the value is known, none otherwise."""
    if value is not None:
        yield ((), value)


class Prefixed(Generic[Obj]):
    """The two constructors a table is written with, under one name prefix:
    gauge(name, help, fn, *labels), and scalar(name, help, get) for a label-less family."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def gauge(
        self,
        name: str,
        help: str,
        samples: Callable[[Obj, RenderContext], Iterable[Sample]],
        *labels: str,
    ) -> Family[Obj]:
        return Family(self.prefix + name, "gauge", help, labels, samples)

    def scalar(
        self, name: str, help: str, get: Callable[[Obj, RenderContext], float | None]
    ) -> Family[Obj]:
        return Family(self.prefix + name, "gauge", help, (), lambda o, c: one(get(o, c)))

    def field(self, name: str, help: str, attr: str) -> Family[Obj]:
        """A label-less family that is one field of the object, as it is (None: no sample)."""
        get = attrgetter(attr)
        return Family(self.prefix + name, "gauge", help, (), lambda o, c: one(get(o)))


def running_only(family: Family[Obj]) -> Family[Obj]:
    """The family, not served for a finished object unless --finished-series full."""
    return dataclasses.replace(family, finished=False)


def select(table: Table[Obj], keep: Callable[[str], bool]) -> Table[Obj]:
    """The table with only the families `keep` says are served (--metric-allowlist/-denylist)."""
    return dataclasses.replace(table, families=tuple(f for f in table.families if keep(f.name)))
