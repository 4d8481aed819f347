"""Everything that touches moto, and its internals, lives here.

moto has no API to move a training job through its lifecycle, so the demo writes the job
objects of moto's in-process SageMaker backend directly:
``moto.backends.get_backend("sagemaker")[account_id][region].training_jobs[name]`` is a
``FakeTrainingJob`` whose DescribeTrainingJob response is generated from its ``__dict__``
(snake_case attribute -> CamelCase key, None values dropped, keys unknown to the botocore
output shape dropped by moto's serializer).

Thread safety: moto's server threads read these objects while the demo driver changes them.
An update never mutates a dict a reader may be iterating: it builds a new attribute dict and
assigns it to the job's ``__dict__`` in one step (a reader keeps iterating the old one). The
job object itself stays, so the listing order, and with it moto's index-based NextToken, is
stable. Insertion builds the job fully before it becomes visible. Times are naive UTC
datetimes, like the ones moto stores itself (its serializer reads naive datetimes as UTC).

Memory: moto's BaseModel appends every instance ever created to ``instances_tracked`` (for
its dashboard), so updates must not create new objects and deletion must untrack the job.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

try:
    from moto.backends import get_backend
    from moto.iam.models import iam_backends
    from moto.sagemaker.models import FakeTrainingJob
    from moto.server import ThreadedMotoServer
    from moto.sts.models import sts_backends
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "demo mode needs moto: pip install 'sagemaker-training-exporter[demo]'"
    ) from exc

# FakeTrainingJob.__init__ parameters; everything else is set as an attribute afterwards.
_CTOR_KEYS = (
    "hyper_parameters",
    "algorithm_specification",
    "role_arn",
    "input_data_config",
    "output_data_config",
    "resource_config",
    "vpc_config",
    "stopping_condition",
    "enable_network_isolation",
    "enable_inter_container_traffic_encryption",
    "enable_managed_spot_training",
    "checkpoint_config",
    "debug_hook_config",
    "debug_rule_configurations",
    "tensor_board_output_config",
    "experiment_config",
)


class MotoServer:
    """moto's threaded server on 127.0.0.1 with an OS-assigned port."""

    def __init__(self) -> None:
        self._server: ThreadedMotoServer | None = None
        self.endpoint_url = ""

    def start(self) -> None:
        # werkzeug logs every request at INFO; a demo polling every few seconds would flood
        # the terminal.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        self._server = server
        host, port = server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.stop()
        # ThreadedMotoServer.stop() shuts the serve loop down but never closes the listening
        # socket, so the port would stay bound until garbage collection.
        inner = getattr(server, "_server", None)
        if inner is not None:
            inner.server_close()


class SageMakerStore:
    """Training jobs of one (account, region) in moto's in-process SageMaker backend."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        # Creating the backend here, before any request arrives, keeps moto's lazy backend
        # creation out of its request threads.
        self._backend: Any = get_backend("sagemaker")[account_id][region]

    @property
    def _jobs(self) -> dict[str, Any]:
        jobs: dict[str, Any] = self._backend.training_jobs
        return jobs

    def names(self) -> list[str]:
        return list(self._jobs)

    def insert(
        self,
        name: str,
        static: Mapping[str, Any],
        tags: Iterable[tuple[str, str]],
        created: datetime,
        fields: Mapping[str, Any],
        last_modified: datetime,
    ) -> None:
        ctor: dict[str, Any] = {k: copy.deepcopy(static.get(k)) for k in _CTOR_KEYS}
        job = FakeTrainingJob(
            account_id=self.account_id,
            region_name=self.region,
            training_job_name=name,
            tags=[{"Key": k, "Value": v} for k, v in tags],
            **ctor,
        )
        # The constructor fills in a finished job with a fake metric and overwrites
        # MetricDefinitions; everything it set is replaced below.
        for key, value in static.items():
            setattr(job, key, copy.deepcopy(value))
        for key, value in fields.items():
            setattr(job, key, value)
        job.creation_time = created
        job.last_modified_time = last_modified
        self._jobs[name] = job

    def update(self, name: str, fields: Mapping[str, Any], last_modified: datetime) -> bool:
        old = self._jobs.get(name)
        if old is None:
            return False
        attrs = dict(old.__dict__)
        attrs.update(fields)
        attrs["last_modified_time"] = last_modified
        old.__dict__ = attrs
        return True

    def describe(self, name: str) -> dict[str, Any] | None:
        """The job's DescribeTrainingJob response as moto builds it (datetimes, and keys the
        HTTP serializer would drop), read in-process: the demo's event publisher calls this
        on every change, and an HTTP round trip each would slow the fleet driver."""
        job = self._jobs.get(name)
        if job is None:
            return None
        response: dict[str, Any] = dict(job.response_object)
        return response

    def delete(self, name: str) -> None:
        job = self._jobs.pop(name, None)
        tracked = getattr(type(job), "instances_tracked", None)
        if job is not None and isinstance(tracked, list):
            with contextlib.suppress(ValueError):
                tracked.remove(job)


class CloudWatchStore:
    """Metric datapoints of one (account, region) in moto's in-process CloudWatch backend.

    put() goes through the backend's own put_metric_data (its validation included). moto
    keeps every datapoint forever and scans all of them per query, so prune() drops the old
    ones: the demo's exporter never looks back further than a few minutes. Timestamps are
    naive UTC, like the ones moto's server stores (an aware one breaks its comparisons).
    """

    def __init__(self, account_id: str, region: str) -> None:
        self._backend: Any = get_backend("cloudwatch")[account_id][region]

    def put(self, namespace: str, metric_data: list[dict[str, Any]]) -> None:
        for start in range(0, len(metric_data), 1000):  # CloudWatch's limit per call
            self._backend.put_metric_data(namespace, metric_data[start : start + 1000])

    def prune(self, before: datetime) -> None:
        # A new list in one assignment: a request thread iterating the old one is unaffected.
        self._backend.metric_data = [
            md for md in list(self._backend.metric_data) if md.timestamp >= before
        ]


class TuningJobStore:
    """Hyperparameter tuning jobs of one (account, region) in moto's backend (issue 12).

    moto creates a tuning job as Completed with placeholder counters and best job; the demo
    builds it through moto's own backend call, then sets its state like a training job's:
    a new attribute dict assigned in one step, so a reader never sees half an update.
    """

    def __init__(self, account_id: str, region: str) -> None:
        self._backend: Any = get_backend("sagemaker")[account_id][region]

    def upsert(
        self,
        name: str,
        config: Mapping[str, Any],
        definition: Mapping[str, Any],
        fields: Mapping[str, Any],
        last_modified: datetime,
    ) -> None:
        jobs: dict[str, Any] = self._backend.hyper_parameter_tuning_jobs
        if name not in jobs:
            self._backend.create_hyper_parameter_tuning_job(
                hyper_parameter_tuning_job_name=name,
                hyper_parameter_tuning_job_config=copy.deepcopy(dict(config)),
                training_job_definition=copy.deepcopy(dict(definition)),
                training_job_definitions=None,
                warm_start_config=None,
                tags=[],
                autotune=None,
            )
        job = jobs[name]
        attrs = dict(job.__dict__)
        attrs.update(fields)
        attrs["last_modified_time"] = last_modified
        job.__dict__ = attrs

    def delete(self, name: str) -> None:
        job = self._backend.hyper_parameter_tuning_jobs.pop(name, None)
        tracked = getattr(type(job), "instances_tracked", None)
        if job is not None and isinstance(tracked, list):
            with contextlib.suppress(ValueError):
                tracked.remove(job)


def _untrack(obj: object) -> None:
    tracked = getattr(type(obj), "instances_tracked", None)
    if isinstance(tracked, list):
        with contextlib.suppress(ValueError):
            tracked.remove(obj)


def prune_expired_sessions(account_ids: Iterable[str], expired_before: datetime) -> int:
    """Forget AssumeRole sessions of these accounts that expired before `expired_before`.

    moto keeps every session it ever issued (and its temporary access key), and the exporter
    assumes a role again whenever its credentials near expiry: one more session per
    assumed-role target per hour, for as long as the demo runs. Returns how many went.
    """
    removed = 0
    for account in account_ids:
        sts: Any = sts_backends[account]["aws"]
        iam: Any = iam_backends[account]["aws"]
        roles: list[Any] = sts.assumed_roles
        expired = [r for r in roles if r.expiration < expired_before]
        if not expired:
            continue
        gone = {id(r) for r in expired}
        # A new list rather than removing in place: a request thread may be iterating the
        # old one to find the account of an access key, and an in-place removal would make
        # it skip an entry. A session added meanwhile lands in the old list: carry it over.
        fresh = [r for r in roles if id(r) not in gone]
        sts.assumed_roles = fresh
        kept = {id(r) for r in fresh}
        fresh.extend(r for r in list(roles) if id(r) not in gone and id(r) not in kept)
        for role in expired:
            key = iam.access_keys.pop(role.access_key.physical_resource_id, None)
            if key is not None:
                _untrack(key)
            _untrack(role)
        removed += len(expired)
    return removed
