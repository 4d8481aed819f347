"""Finished jobs are kept packed (exporter/store/packing.py): unpacking must give back an equal
job, for any response the parser accepts, and share repeated strings between jobs."""

from __future__ import annotations

import json
import marshal
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hypothesis import given

from exporter.parse.api import parse_tags, parse_training_job
from exporter.store import packing
from exporter.store.packing import compact, pack, unpack
from fake_aws.data import make_job
from tests.support.payloads import SETTINGS, payload, tags_response


def test_any_parsed_job_unpacks_equal() -> None:
    @SETTINGS
    @given(raw=payload, tags=tags_response)
    def example(raw: dict[str, Any], tags: Any) -> None:
        job = parse_training_job(raw, parse_tags(tags))
        if job is not None:
            assert unpack(pack(job)) == job
            assert compact(job) == job

    example()


def fleet_job(i: int, stage: str) -> Any:
    raw = make_job(i, 7, time.time(), "us-east-1", "123456789012", stage)
    doc, tags = json.loads(json.dumps([raw.doc, raw.tags]))  # fresh strings, as from botocore
    return parse_training_job(doc, parse_tags(tags))


def test_fleet_jobs_round_trip_and_share_their_repeated_strings() -> None:
    jobs = [fleet_job(i, stage) for i, stage in enumerate(["Completed", "Failed", "Training"] * 20)]
    back = [unpack(pack(j)) for j in jobs]
    assert back == jobs
    assert len(pack(jobs[0])) < 1024  # what a finished job costs, against ~2 KiB as objects
    a, b = back[0], back[3]  # two completed jobs
    assert a.status is b.status and a.transitions[0].status is b.transitions[0].status
    tagged = [j for j in back if j.tags]
    assert len(tagged) >= 2 and tagged[0].tags[0][0] is tagged[1].tags[0][0]
    assert a.name is not b.name and a.name == jobs[0].name


# Shapes a later model may add (fields get added in parallel): nested records, enums.
class Mode(StrEnum):
    FAST = "fast"


@dataclass(frozen=True, slots=True)
class Inner:
    label: str
    at: float | None
    mode: Mode


@dataclass(frozen=True, slots=True)
class Outer:
    items: tuple[Inner, ...]
    pair: tuple[str, int]
    first: Inner | None = None


def test_the_codec_follows_new_kinds_of_fields() -> None:
    codec = packing._codec(Outer)
    assert codec is not None
    encode, decode = codec
    value = Outer((Inner("a", 1.5, Mode.FAST), Inner("b", None, Mode.FAST)), ("x", 3))
    assert decode(marshal.loads(marshal.dumps(encode(value)))) == value
