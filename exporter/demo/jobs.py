"""Turn (scenario, seeded RNG, placement) into a JobPlan with a realistic static configuration.

Everything here derives from the RNG handed in, so a job's name, scenario, instances, metrics
and outcome are fixed by the demo seed; only the wall clock decides when things happen.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from exporter.demo import catalog as c
from exporter.demo.lifecycles import BUILDERS, MIN, Ctx, Life
from exporter.demo.plan import JobPlan, MetricCurve, WarmPool


@dataclass(frozen=True)
class Features:
    """Variety switches; None lets the job's RNG decide."""

    layout: str | None = None  # single, multi, groups
    instances: int | None = None  # instance count of a multi layout
    warm_pool: str | None = None  # none, terminated, reused
    debug_issues: bool | None = None
    profiler: bool | None = None
    vpc: bool | None = None
    kms: bool | None = None
    isolation: bool | None = None
    automl: bool = False
    instance: str | None = None  # instance type (of the trainers group); picks a workload
    workload: str | None = None  # a catalog Workload.model
    encryption: bool | None = None  # inter-container traffic encryption


@dataclass(frozen=True)
class Placement:
    """Where in its life a job is when inserted.

    live: as its scenario says (created now, or backdated by the scenario's age);
    ended: finished `value` real seconds ago, with unscaled (realistic) durations;
    progress: `value` (0..1) of the way to its end;
    step: `value` real seconds into the first step with secondary status `step`.
    realtime: unscaled durations for a job that is not finished (ended always is).
    """

    kind: str = "live"
    value: float = 0.0
    step: str = ""
    realtime: bool = False


LIVE = Placement()


def _pick(rng: random.Random, forced: bool | None, p: float) -> bool:
    roll = rng.random() < p  # always drawn, so forcing one switch leaves the others unchanged
    return roll if forced is None else forced


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _resources(rng: random.Random, itype: str, layout: str, count: int | None) -> dict[str, Any]:
    res: dict[str, Any] = {"VolumeSizeInGB": rng.choice((30, 100, 500))}
    if layout == "groups":
        res["InstanceGroups"] = [
            {
                "InstanceGroupName": "trainers",
                "InstanceType": itype,
                "InstanceCount": rng.choice((1, 2)),
            },
            {
                "InstanceGroupName": "data-loaders",
                "InstanceType": "ml.m5.xlarge" if itype == "ml.c5.4xlarge" else "ml.c5.4xlarge",
                "InstanceCount": rng.choice((2, 4)),
            },
        ]
    else:
        res["InstanceType"] = itype
        res["InstanceCount"] = 1
        if layout != "single":
            drawn = rng.choice((2, 4, 8))  # drawn even when forced, like _pick
            res["InstanceCount"] = count or drawn
    return res


def _static(
    rng: random.Random,
    wl: c.Workload,
    life: Life,
    f: Features,
    *,
    name: str,
    region: str,
    account: str,
    itype: str,
    tuning: str | None,
    fleet_tag: str,
) -> dict[str, Any]:
    fmt = {"region": region, "account": account}
    layout = f.layout or rng.choices(("single", "multi", "groups"), (60, 25, 15))[0]
    res = _resources(rng, itype, layout, f.instances)
    vpc, kms = _pick(rng, f.vpc, 0.35), _pick(rng, f.kms, 0.4)
    isolation = _pick(rng, f.isolation, 0.2)
    bucket = f"s3://demo-ml-{account}-{region}/{wl.team}"
    kms_key = f"arn:aws:kms:{region}:{account}:key/{_hex(rng, 8)}-demo"
    if kms:
        res["VolumeKmsKeyId"] = kms_key
    algo: dict[str, Any] = {
        "TrainingInputMode": wl.input_mode,
        "MetricDefinitions": [{"Name": m.name, "Regex": f"{m.name}=([0-9.]+)"} for m in wl.metrics],
    }
    if wl.algorithm_name:
        algo["AlgorithmName"] = wl.algorithm_name.format(**fmt)
    else:
        algo["TrainingImage"] = wl.image.format(**fmt)
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": life.max_runtime}
    if life.max_wait is not None:
        stopping["MaxWaitTimeInSeconds"] = life.max_wait
    static: dict[str, Any] = {
        "hyper_parameters": {
            **dict(wl.hyper_parameters),
            "sagemaker_program": "train.py",
            "tracking_api_key": c.SECRET_CANARY,
        },
        "environment": {"HF_TOKEN": c.SECRET_CANARY, "LOG_LEVEL": "info"},
        "algorithm_specification": algo,
        "role_arn": f"arn:aws:iam::{account}:role/sagemaker-{wl.team}-training",
        "input_data_config": [
            {
                "ChannelName": ch,
                "CompressionType": "None",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"{bucket}/{ch}/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
            for ch in ("train", "validation")
        ],
        "output_data_config": {
            "S3OutputPath": f"{bucket}/output",
            **({"KmsKeyId": kms_key} if kms else {}),
        },
        "model_artifacts": {"S3ModelArtifacts": f"{bucket}/output/{name}/output/model.tar.gz"},
        "resource_config": res,
        "vpc_config": {
            "SecurityGroupIds": [f"sg-0{_hex(rng, 16)}"],
            "Subnets": [f"subnet-0{_hex(rng, 16)}", f"subnet-0{_hex(rng, 16)}"],
        }
        if vpc
        else None,
        "stopping_condition": stopping,
        "enable_network_isolation": isolation,
        "enable_inter_container_traffic_encryption": layout != "single"
        and _pick(rng, f.encryption, 0.5),
        "enable_managed_spot_training": life.spot,
        "checkpoint_config": {"S3Uri": f"{bucket}/checkpoints/{name}"} if life.spot else None,
        "tuning_job_arn": None
        if tuning is None
        else f"arn:aws:sagemaker:{region}:{account}:hyper-parameter-tuning-job/{tuning}",
        # No underscore: moto derives the response key from the attribute name, and
        # "auto_ml_job_arn" would come out as AutoMlJobArn.
        "AutoMLJobArn": f"arn:aws:sagemaker:{region}:{account}:automl-job/churn-autopilot-"
        f"{fleet_tag}"
        if f.automl
        else None,
    }
    return static


def _place(life: Life, p: Placement, now: datetime) -> datetime:
    total = sum(s.seconds for s in life.steps)
    if p.kind == "live":
        age = life.age
    elif p.kind == "ended":
        age = total + p.value
    elif p.kind == "progress":
        age = p.value * total
    else:
        age, acc = p.value, 0.0
        for s in life.steps:
            if s.status == p.step:
                age = acc + min(p.value, 0.9 * s.seconds)
                break
            acc += s.seconds
    return now - timedelta(seconds=max(0.0, age))


def make_plan(
    *,
    scenario: str,
    rng: random.Random,
    serial: int,
    region: str,
    account_id: str,
    now: datetime,
    speed: float,
    placement: Placement = LIVE,
    features: Features | None = None,
    fleet_tag: str = "0000",
) -> JobPlan:
    f = features or Features()
    wl = rng.choice(
        [
            w
            for w in c.WORKLOADS
            if f.instance in (None, *w.instance_types) and f.workload in (None, w.model)
        ]
    )
    itype = f.instance or rng.choice(wl.instance_types)
    scale = 1.0 if placement.kind == "ended" or placement.realtime else 1.0 / speed
    x = Ctx(
        rng,
        scale,
        {"team": wl.team, "account": account_id, "region": region, "instance_type": itype},
    )
    life = BUILDERS[scenario](x)
    tuning = {
        "tuning-trial": f"{wl.model[:16]}-hpo-{fleet_tag}",
        "sweep-trial": f"{wl.model[:16]}-sweep-{fleet_tag}",
        "sweep-data-bug": f"{wl.model[:16]}-sweep-{fleet_tag}",
    }.get(scenario)
    name = (
        f"{tuning}-{serial:03d}-{_hex(rng, 8)}"
        if tuning
        else f"{wl.model}-{serial:04d}-{_hex(rng, 5)}"
    )
    static = _static(
        rng,
        wl,
        life,
        f,
        name=name,
        region=region,
        account=account_id,
        itype=itype,
        tuning=tuning,
        fleet_tag=fleet_tag,
    )
    pool_kind = f.warm_pool or rng.choices(("none", "terminated", "reused"), (80, 12, 8))[0]
    pool = None
    if pool_kind != "none":
        keep = rng.uniform(10, 30) * MIN * scale
        reused = rng.uniform(0.3, 0.8) * keep if pool_kind == "reused" else None
        pool = WarmPool(keep, reused, f"{wl.model}-{_hex(rng, 5)}-warm")
        static["resource_config"]["KeepAlivePeriodInSeconds"] = max(1, round(keep))
    debug = _pick(rng, None if f.debug_issues is None else True, 0.3)
    issues = _pick(rng, f.debug_issues, 0.4) and debug
    profiler = _pick(rng, f.profiler, 0.3)
    rule = rng.choice(c.DEBUG_RULES)
    image = c.RULE_IMAGE.format(region=region)
    if debug:
        static["debug_hook_config"] = {
            "S3OutputPath": f"{static['output_data_config']['S3OutputPath']}/debug"
        }
        static["debug_rule_configurations"] = [
            {
                "RuleConfigurationName": rule,
                "RuleEvaluatorImage": image,
                "RuleParameters": {"rule_to_invoke": rule},
            }
        ]
    static["profiling_status"] = "Enabled" if profiler else "Disabled"
    if profiler:
        static["profiler_config"] = {
            "ProfilingIntervalInMilliseconds": 500,
            "S3OutputPath": static["output_data_config"]["S3OutputPath"],
        }
        static["profiler_rule_configurations"] = [
            {
                "RuleConfigurationName": c.PROFILER_RULE,
                "RuleEvaluatorImage": image,
                "RuleParameters": {"rule_to_invoke": c.PROFILER_RULE},
            }
        ]
    interval = life.metric_interval or 5 * MIN * scale
    return JobPlan(
        name=name,
        scenario=scenario,
        region=region,
        account_id=account_id,
        created=_place(life, placement, now),
        steps=life.steps,
        outcome=life.outcome,
        static=static,
        tags=(("team", wl.team), ("project", wl.project), (c.SCENARIO_TAG, scenario)),
        spot_factor=rng.uniform(0.3, 0.45) if life.spot else 1.0,
        metrics=tuple(MetricCurve(m.name, m.first, m.last) for m in wl.metrics),
        metric_interval=max(interval, 0.05),
        metric_freeze=life.metric_freeze,
        warm_pool=pool,
        debug_rule=rule if debug else None,
        debug_issues=issues,
        profiler_rule=c.PROFILER_RULE if profiler else None,
    )
