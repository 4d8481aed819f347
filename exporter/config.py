"""Settings: one frozen dataclass, loaded from flags > environment > YAML file > defaults.

`load()` checks everything before anything starts and reports every problem at once, in
one message, so a bad deployment fails fast with a line that says what to fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from exporter.metrics.training_jobs import tag_label_name
from exporter.parse.prices import PriceError, PriceTable, load_price_file

ENV_PREFIX = "SAGEMAKER_EXPORTER_"
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "console")
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(Exception):
    """Every problem found in the configuration, as one message."""


@dataclass(frozen=True, slots=True)
class Option:
    name: str  # flag name without dashes
    kind: str  # str, int, float, duration, bool, list
    default: Any
    help: str
    choices: tuple[str, ...] = ()


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
    ),
    Option("external-id", "str", None, "ExternalId passed when assuming --role-arn roles."),
    Option(
        "base-account",
        "bool",
        True,
        "Also watch the account of the base credentials "
        "(--no-base-account to watch only --role-arn accounts).",
    ),
    Option("listen-address", "str", ":9843", "host:port to serve /metrics on."),
    Option("poll-interval", "duration", 30.0, "How often to list changed jobs."),
    Option(
        "refresh-interval",
        "duration",
        900.0,
        "How often to re-describe each running job even when its summary did not change "
        "(final metrics, rule results); spread evenly over the interval.",
    ),
    Option(
        "reconcile-interval",
        "duration",
        600.0,
        "How often to re-list all running jobs in case a change was missed.",
    ),
    Option(
        "retention", "duration", 86400.0, "How long finished jobs stay exported after they end."
    ),
    Option(
        "max-concurrency", "int", 32, "Concurrent DescribeTrainingJob calls per account/region."
    ),
    Option(
        "list-rps",
        "float",
        None,
        "Optional cap on ListTrainingJobs calls per second per account/region (default: "
        "none; the rate is discovered from throttling, see sagemaker_exporter_api_rate_limit).",
    ),
    Option(
        "describe-rps",
        "float",
        None,
        "Optional cap on DescribeTrainingJob/ListTags calls per second per account/region "
        "(default: none; discovered like --list-rps).",
    ),
    Option("api-timeout", "duration", 20.0, "Read timeout of one AWS API attempt."),
    Option(
        "api-max-attempts",
        "int",
        4,
        "Attempts per AWS API call for server and network errors, first try included "
        "(jittered exponential backoff); throttled attempts get twice as many, paced by the "
        "discovered rate.",
    ),
    Option("include", "list", [], "Only export jobs whose name matches this regex; repeatable."),
    Option("exclude", "list", [], "Never export jobs whose name matches this regex; repeatable."),
    Option(
        "tag-labels",
        "list",
        [],
        "Tag keys exported as tag_<key> labels on "
        "sagemaker_training_job_tags (comma-separated or repeated); costs one ListTags call "
        "per job.",
    ),
    Option(
        "endpoint-url",
        "str",
        None,
        "SageMaker/STS endpoint override (AWS_ENDPOINT_URL is honoured too).",
    ),
    Option("web-config-file", "str", None, "Prometheus web config file for TLS and basic auth."),
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
    Option("demo-speed", "float", 30.0, "Demo clock acceleration."),
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
    ),
    Option(
        "cloudwatch-budget",
        "int",
        36000,
        "Most CloudWatch metrics requested per sliding hour, all targets together (0: no cap); "
        "when it binds, the hosts fetched least recently go first.",
    ),
    Option(
        "events-queue-url",
        "list",
        [],
        "SQS queue that an EventBridge rule feeds with 'SageMaker Training Job State "
        "Change' events; repeatable. Turns on event mode: changes show within seconds and "
        "polling becomes the slower safety net.",
    ),
    Option(
        "events-poll-interval",
        "duration",
        300.0,
        "How often to list changed jobs in event mode while every event queue is up; "
        "--poll-interval applies when a queue fails.",
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
    ),
    Option(
        "tuning-jobs",
        "bool",
        True,
        "Also export hyperparameter tuning jobs (--no-tuning-jobs to skip their API calls).",
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
#: https://sqs.REGION.amazonaws.com/ACCOUNT/NAME, or a local server's http://HOST:PORT/...
_QUEUE_URL_RE = re.compile(r"https?://[^/\s]+/\d{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?")


def _truthy(value: Any) -> bool:
    try:
        return value is not None and _as_bool(value)
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Settings:
    regions: tuple[str, ...]
    role_arns: tuple[str, ...] = ()
    external_id: str | None = None
    base_account: bool = True
    listen_host: str = ""
    listen_port: int = 9843
    poll_interval: float = 30.0
    refresh_interval: float = 900.0
    reconcile_interval: float = 600.0
    retention: float = 86400.0
    max_concurrency: int = 32
    list_rps: float | None = None
    describe_rps: float | None = None
    api_timeout: float = 20.0
    api_max_attempts: int = 4
    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()
    tag_labels: tuple[str, ...] = ()
    endpoint_url: str | None = None
    web_config_file: str | None = None
    log_level: str = "info"
    log_format: str = "json"
    once: bool = False
    demo: bool = False
    demo_speed: float = 30.0
    demo_seed: int = 1
    cloudwatch: bool = False
    cloudwatch_interval: float = 300.0
    cloudwatch_budget: int = 36000
    events_queue_urls: tuple[str, ...] = ()
    events_poll_interval: float = 300.0
    demo_events: bool = True
    price_table: PriceTable | None = None  # loaded from --price-file at start
    price_list_api: bool = False
    price_refresh_interval: float = 86400.0
    tuning_jobs: bool = True


def parse_duration(text: str | float | int) -> float:
    """'30s', '5m', '24h', '1h30m', '250ms' or a number of seconds -> seconds."""
    if isinstance(text, bool):
        raise ValueError(f"bad duration {text!r}")
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"bad duration {text!r}: negative")
        return float(text)
    s = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"bad duration {text!r} (use e.g. 30s, 5m, 24h)")
    return total


def parse_listen_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"bad listen address {text!r} (use host:port, e.g. :9843)")
    return host.strip("[]"), int(port)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    out: list[str] = []
    for item in items:
        out.extend(p.strip() for p in str(item).split(",") if p.strip())
    return out


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"bad boolean {value!r}")


def from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for opt in OPTIONS:
        key = ENV_PREFIX + opt.name.upper().replace("-", "_")
        if key in environ:
            out[opt.name] = environ[key]
    return out


def from_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {path}: {exc}".replace("\n", " ")) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping of settings")
    out = {str(k).replace("_", "-"): v for k, v in data.items()}
    unknown = sorted(set(out) - set(OPTIONS_BY_NAME) | ({"config"} & set(out)))
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting(s): {', '.join(unknown)}")
    return out


def default_region() -> str | None:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        return region
    try:
        import botocore.session

        return botocore.session.get_session().get_config_variable("region")  # type: ignore[no-any-return]
    except Exception:
        return None


def build(raw: Mapping[str, Any], environ: Mapping[str, str], isatty: bool) -> Settings:
    """Merged raw values (flag name -> value) -> Settings, or ConfigError listing every problem."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    defaults = dict(DEMO_DEFAULTS) if _truthy(raw.get("demo")) else {}
    for opt in OPTIONS:
        value = raw.get(opt.name, defaults.get(opt.name, opt.default))
        try:
            if opt.kind == "list":
                value = _as_list(value)
            elif opt.kind == "duration":
                value = parse_duration(value)
            elif opt.kind == "bool":
                value = _as_bool(value)
            elif opt.kind == "int" and value is not None:
                value = int(value)
            elif opt.kind == "float" and value is not None:
                value = float(value)
        except (TypeError, ValueError) as exc:
            problems.append(f"--{opt.name}: {exc}")
            continue
        if opt.choices and value is not None and value not in opt.choices:
            problems.append(f"--{opt.name}: {value!r} is not one of {', '.join(opt.choices)}")
        values[opt.name] = value

    def check(name: str, ok: bool, why: str) -> None:
        if name in values and not ok:
            problems.append(f"--{name}: {why}")

    for name in (
        "poll-interval",
        "refresh-interval",
        "reconcile-interval",
        "retention",
        "events-poll-interval",
    ):
        check(name, values.get(name, 1) > 0, "must be greater than zero")
    for name in ("list-rps", "describe-rps"):
        check(name, values.get(name) is None or values[name] > 0, "must be greater than zero")
    check("max-concurrency", values.get("max-concurrency", 1) >= 1, "must be at least 1")
    check("api-timeout", values.get("api-timeout", 1) > 0, "must be greater than zero")
    check("api-max-attempts", values.get("api-max-attempts", 1) >= 1, "must be at least 1")
    check("demo-speed", values.get("demo-speed", 1) > 0, "must be greater than zero")
    check("cloudwatch-interval", values.get("cloudwatch-interval", 60) >= 1, "must be at least 1s")
    check("cloudwatch-budget", values.get("cloudwatch-budget", 0) >= 0, "must not be negative")

    patterns: dict[str, list[re.Pattern[str]]] = {"include": [], "exclude": []}
    for name in patterns:
        for expr in values.get(name, []):
            try:
                patterns[name].append(re.compile(expr))
            except re.error as exc:
                problems.append(f"--{name}: bad regex {expr!r}: {exc}")
    labels: dict[str, str] = {}
    for key in dict.fromkeys(values.get("tag-labels", [])):
        label = tag_label_name(key)
        if label in labels:
            problems.append(
                f"--tag-labels: {labels[label]!r} and {key!r} would both be label {label}"
            )
        labels[label] = key
    for arn in values.get("role-arn", []):
        if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/.+", arn):
            problems.append(f"--role-arn: {arn!r} is not an IAM role ARN")
    host, port = "", 9843
    try:
        host, port = parse_listen_address(str(values.get("listen-address", ":9843")))
    except ValueError as exc:
        problems.append(f"--listen-address: {exc}")
    regions = values.get("region") or []
    if not regions and not values.get("demo"):
        region = default_region()
        if region:
            regions = [region]
        else:
            problems.append("--region: no region given and no AWS default region configured")
    if not values.get("base-account", True) and not values.get("role-arn"):
        problems.append("--no-base-account needs at least one --role-arn")
    for url in values.get("events-queue-url", []):
        if not _QUEUE_URL_RE.fullmatch(url):
            problems.append(
                f"--events-queue-url: {url!r} is not an SQS queue URL "
                "(https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"
            )
    endpoint = values.get("endpoint-url") or environ.get("AWS_ENDPOINT_URL") or None
    check(
        "price-refresh-interval",
        values.get("price-refresh-interval", 1) > 0,
        "must be greater than zero",
    )
    price_table = None
    if values.get("price-file"):
        try:
            price_table = load_price_file(values["price-file"])
        except PriceError as exc:
            problems.append(f"--price-file: {exc}")
    if problems:
        raise ConfigError("; ".join(problems))
    log_format = values["log-format"] or ("console" if isatty else "json")
    settings = Settings(
        regions=tuple(dict.fromkeys(regions)),
        role_arns=tuple(dict.fromkeys(values["role-arn"])),
        external_id=values["external-id"],
        base_account=values["base-account"],
        listen_host=host,
        listen_port=port,
        poll_interval=values["poll-interval"],
        refresh_interval=values["refresh-interval"],
        reconcile_interval=values["reconcile-interval"],
        retention=values["retention"],
        max_concurrency=values["max-concurrency"],
        list_rps=values["list-rps"],
        describe_rps=values["describe-rps"],
        api_timeout=values["api-timeout"],
        api_max_attempts=values["api-max-attempts"],
        include=tuple(patterns["include"]),
        exclude=tuple(patterns["exclude"]),
        tag_labels=tuple(dict.fromkeys(values["tag-labels"])),
        endpoint_url=endpoint,
        web_config_file=values["web-config-file"],
        log_level=values["log-level"],
        log_format=log_format,
        once=values["once"],
        demo=values["demo"],
        demo_speed=values["demo-speed"],
        demo_seed=values["demo-seed"],
        cloudwatch=values["cloudwatch"],
        cloudwatch_interval=values["cloudwatch-interval"],
        cloudwatch_budget=values["cloudwatch-budget"],
        events_queue_urls=tuple(dict.fromkeys(values["events-queue-url"])),
        events_poll_interval=values["events-poll-interval"],
        demo_events=values["demo-events"],
        price_table=price_table,
        price_list_api=values["price-list-api"],
        price_refresh_interval=values["price-refresh-interval"],
        tuning_jobs=values["tuning-jobs"],
    )
    return settings
