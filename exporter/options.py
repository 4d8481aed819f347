"""The flag reference: every option as data, and how a raw value becomes a checked one.

The CLI flags, the SAGEMAKER_EXPORTER_* variables, the config-file keys, the Settings
attributes and the README table are all derived from OPTIONS, so an option is named once.
An option declares its kind (how text becomes a value) and its check (what a value must
satisfy) beside its help; exporter.config runs them and builds Settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exporter.checks import (
    AT_LEAST_ONE,
    AT_LEAST_ONE_SECOND,
    NOT_NEGATIVE,
    POSITIVE,
    Check,
    distinct_labels,
    family_patterns,
    listen_address,
    queue_url,
    regex,
    role_arn,
    telemetry_path,
)

ENV_PREFIX = "SAGEMAKER_EXPORTER_"
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "console")


@dataclass(frozen=True, slots=True)
class Option:
    name: str  # flag name without dashes
    kind: str  # a key of COERCE
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    #: Runs on the typed value unless the option is optional (default None) and left unset.
    check: Check | None = None
    #: A list's items -> their values; ValueError names the bad item.
    item: Callable[[str], Any] = str
    #: Other flag names (without dashes) for the same setting: exporter-toolkit's, which
    #: every Prometheus exporter in Go takes (--web.listen-address ...). Flags only.
    aliases: tuple[str, ...] = ()

    @property
    def field(self) -> str:
        """The Settings attribute: --role-arn -> role_arn (a config file takes either spelling)."""
        return self.name.replace("-", "_")

    @property
    def env(self) -> str:
        """The environment variable: --role-arn -> SAGEMAKER_EXPORTER_ROLE_ARN."""
        return ENV_PREFIX + self.field.upper()


#: The flag reference: the CLI, the env vars, the config file and the README are built from
#: (or checked against) this table.
OPTIONS: tuple[Option, ...] = (
    Option("config", "str", None, "YAML file with any of these settings (keys as flag names)."),
    Option(
        "region",
        "list",
        [],
        "AWS region to watch; repeatable (default: the AWS default "
        "region from the environment or ~/.aws/config).",
    ),
    Option(
        "role-arn",
        "list",
        [],
        "IAM role to assume for another account; repeatable, one per account.",
        item=role_arn,
    ),
    Option("external-id", "str", None, "ExternalId passed when assuming --role-arn roles."),
    Option(
        "base-account",
        "bool",
        True,
        "Also watch the account of the base credentials "
        "(--no-base-account to watch only --role-arn accounts).",
    ),
    Option(
        "listen-address",
        "str",
        ":9843",
        "host:port to serve /metrics on.",
        check=listen_address,
        aliases=("web.listen-address",),
    ),
    Option(
        "telemetry-path",
        "str",
        "/metrics",
        "Path the metrics are served on.",
        check=telemetry_path,
        aliases=("web.telemetry-path",),
    ),
    Option("poll-interval", "duration", 30.0, "How often to list changed jobs.", check=POSITIVE),
    Option(
        "refresh-interval",
        "duration",
        900.0,
        "How often to re-describe each running job even when its summary did not change "
        "(final metrics, rule results); spread evenly over the interval.",
        check=POSITIVE,
    ),
    Option(
        "reconcile-interval",
        "duration",
        600.0,
        "How often to re-list all running jobs in case a change was missed.",
        check=POSITIVE,
    ),
    Option(
        "retention",
        "duration",
        86400.0,
        "How long finished jobs stay exported after they end.",
        check=POSITIVE,
    ),
    Option(
        "max-concurrency",
        "int",
        32,
        "Concurrent DescribeTrainingJob calls per account/region.",
        check=AT_LEAST_ONE,
    ),
    Option(
        "list-rps",
        "float",
        None,
        "Optional cap on ListTrainingJobs calls per second per account/region (default: "
        "none; the rate is discovered from throttling, see sagemaker_exporter_api_rate_limit).",
        check=POSITIVE,
    ),
    Option(
        "describe-rps",
        "float",
        None,
        "Optional cap on DescribeTrainingJob/ListTags calls per second per account/region "
        "(default: none; discovered like --list-rps).",
        check=POSITIVE,
    ),
    Option("api-timeout", "duration", 20.0, "Read timeout of one AWS API attempt.", check=POSITIVE),
    Option(
        "api-max-attempts",
        "int",
        4,
        "Attempts per AWS API call for server and network errors, first try included "
        "(jittered exponential backoff); throttled attempts get twice as many, paced by the "
        "discovered rate.",
        check=AT_LEAST_ONE,
    ),
    Option(
        "include",
        "list",
        [],
        "Only export jobs whose name matches this regex; repeatable.",
        item=regex,
    ),
    Option(
        "exclude",
        "list",
        [],
        "Never export jobs whose name matches this regex; repeatable.",
        item=regex,
    ),
    Option(
        "tag-labels",
        "list",
        [],
        "Tag keys exported as tag_<key> labels on sagemaker_training_job_tags and on the "
        "status, billable_seconds, estimated_cost_dollars and failure_info families "
        "(comma-separated or repeated); costs one ListTags call per job.",
        check=distinct_labels,
    ),
    Option(
        "endpoint-url",
        "str",
        None,
        "SageMaker/STS endpoint override (AWS_ENDPOINT_URL is honoured too).",
    ),
    Option(
        "web-config-file",
        "str",
        None,
        "Prometheus web config file for TLS and basic auth.",
        aliases=("web.config.file",),
    ),
    Option("log-level", "str", "info", "Log level.", LOG_LEVELS),
    Option(
        "log-format",
        "str",
        None,
        "json or console (default: json unless stdout is a terminal).",
        LOG_FORMATS,
    ),
    Option("once", "bool", False, "Poll once, print the exposition to stdout and exit."),
    Option(
        "demo",
        "bool",
        False,
        "Run against a built-in simulated SageMaker fleet (needs the demo extra).",
    ),
    Option("demo-speed", "float", 30.0, "Demo clock acceleration.", check=POSITIVE),
    Option("demo-seed", "int", 1, "Demo random seed (same seed, same fleet)."),
    Option(
        "cloudwatch",
        "bool",
        False,
        "Also export per-host CPU, memory, disk and GPU utilisation of running jobs from "
        "CloudWatch (GetMetricData, billed per metric requested).",
    ),
    Option(
        "cloudwatch-interval",
        "duration",
        300.0,
        "How often to fetch CloudWatch utilisation; each fetch covers every minute since the "
        "previous one, so a longer interval loses no data, only freshness, and costs less.",
        check=AT_LEAST_ONE_SECOND,
    ),
    Option(
        "cloudwatch-budget",
        "int",
        36000,
        "Most CloudWatch metrics requested per sliding hour, all targets together (0: no cap); "
        "when it binds, the hosts fetched least recently go first.",
        check=NOT_NEGATIVE,
    ),
    Option(
        "events-queue-url",
        "list",
        [],
        "SQS queue that an EventBridge rule feeds with 'SageMaker Training Job State "
        "Change' events; repeatable. Turns on event mode: changes show within seconds and "
        "polling becomes the slower safety net.",
        item=queue_url,
    ),
    Option(
        "events-poll-interval",
        "duration",
        300.0,
        "How often to list changed jobs in event mode while every event queue is up; "
        "--poll-interval applies when a queue fails.",
        check=POSITIVE,
    ),
    Option(
        "demo-events",
        "bool",
        True,
        "Demo: send the simulated changes as EventBridge events through SQS, so the demo "
        "runs in event mode (--no-demo-events: polling only).",
    ),
    Option(
        "price-file",
        "str",
        None,
        "YAML price table (as_of: date; region -> instance type "
        "-> on-demand USD per hour) for sagemaker_training_job_estimated_cost_dollars.",
    ),
    Option(
        "price-list-api",
        "bool",
        False,
        "Fetch on-demand training prices from the AWS Price "
        "List API (pricing:GetProducts) for the watched regions; over --price-file's.",
    ),
    Option(
        "price-refresh-interval",
        "duration",
        86400.0,
        "How often to refresh prices from the Price List API.",
        check=POSITIVE,
    ),
    Option(
        "tuning-jobs",
        "bool",
        True,
        "Also export hyperparameter tuning jobs (--no-tuning-jobs to skip their API calls).",
    ),
    Option(
        "metric-allowlist",
        "list",
        [],
        "Serve only the job, tuning-job and host families whose name this regex matches "
        "whole (repeatable; not with --metric-denylist). The sagemaker_exporter_* self-metrics "
        "are always served: the shipped alerts read them.",
        item=regex,
        check=family_patterns,
    ),
    Option(
        "metric-denylist",
        "list",
        [],
        "Serve none of the job, tuning-job and host families whose name this regex matches "
        "whole (repeatable; not with --metric-allowlist).",
        item=regex,
        check=family_patterns,
    ),
    Option(
        "finished-series",
        "str",
        "lean",
        "What a finished training job keeps on /metrics until --retention drops it: lean (what "
        "the shipped alerts and dashboards read of it: status, phase durations, end time, "
        "billable time, cost, instances, final metrics, failure, rules) or full (every family, "
        "as while it runs).",
        ("lean", "full"),
    ),
)
OPTIONS_BY_NAME = {o.name: o for o in OPTIONS}
#: A simulated fleet moves in minutes, so the demo polls faster unless told otherwise.
DEMO_DEFAULTS: dict[str, Any] = {
    "poll-interval": 5.0,
    "refresh-interval": 15.0,
    "reconcile-interval": 60.0,
    "cloudwatch": True,  # the demo publishes utilisation to its embedded CloudWatch
    "cloudwatch-interval": 15.0,
    "events-poll-interval": 60.0,
    # The demo prices its fleet with the example table shipped beside it.
    "price-file": str(Path(__file__).parent / "demo" / "prices.yaml"),
}
