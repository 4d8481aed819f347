"""Settings: one frozen dataclass, loaded from flags > environment > YAML file > defaults.

`build()` checks everything before anything starts and reports every problem at once, in
one message, so a bad deployment fails fast with a line that says what to fix. It runs in
steps: each option's value is typed and checked as its declaration in exporter.options says
(`_option_value`); what spans options or comes from outside them is settled (`_resolve`,
`_price_table`); then Settings is constructed from the values by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from exporter.aws.session import default_region
from exporter.options import DEMO_DEFAULTS, OPTIONS, OPTIONS_BY_NAME, Option
from exporter.parse.prices import PriceError, PriceTable, load_price_file
from exporter.parse.values import COERCE, as_bool, parse_duration, parse_listen_address

# OPTIONS and parse_duration are part of this module's interface (tests and callers import
# them from here), though they are declared in exporter.options.
__all__ = [
    "OPTIONS",
    "ConfigError",
    "Settings",
    "build",
    "family_filter",
    "from_env",
    "from_file",
    "parse_duration",
]


class ConfigError(Exception):
    """Every problem found in the configuration, as one message."""


@dataclass(frozen=True, slots=True)
class Settings:
    """One attribute per option, named as the option (--role-arn -> role_arn), holding its
    checked value: durations in seconds, lists as tuples without repeats. No defaults here:
    they live in OPTIONS, and build() is the one constructor."""

    config: str | None
    region: tuple[str, ...]
    role_arn: tuple[str, ...]
    external_id: str | None
    base_account: bool
    listen_address: str
    telemetry_path: str
    poll_interval: float
    refresh_interval: float
    reconcile_interval: float
    retention: float
    max_concurrency: int
    list_rps: float | None
    describe_rps: float | None
    api_timeout: float
    api_max_attempts: int
    include: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...]
    tag_labels: tuple[str, ...]
    finished_series: str
    endpoint_url: str | None
    web_config_file: str | None
    log_level: str
    log_format: str
    once: bool
    demo: bool
    demo_speed: float
    demo_seed: int
    cloudwatch: bool
    cloudwatch_interval: float
    cloudwatch_budget: int
    events_queue_url: tuple[str, ...]
    events_poll_interval: float
    demo_events: bool
    price_file: str | None
    price_list_api: bool
    price_refresh_interval: float
    tuning_jobs: bool
    metric_allowlist: tuple[re.Pattern[str], ...]
    metric_denylist: tuple[re.Pattern[str], ...]
    #: Not an option: the table read from price_file, loaded while checking it so that a bad
    #: file fails at start and the file is read once.
    price_table: PriceTable | None

    # The address stays the text it was given (so every attribute is its option's value);
    # build() has checked that it parses, and the server needs the parts only at start.
    @property
    def listen_host(self) -> str:
        return parse_listen_address(str(self.listen_address))[0]

    @property
    def listen_port(self) -> int:
        return parse_listen_address(str(self.listen_address))[1]


def from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    return {opt.name: environ[opt.env] for opt in OPTIONS if opt.env in environ}


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


def _truthy(value: Any) -> bool:
    try:
        return value is not None and as_bool(value)
    except ValueError:
        return False


def _items(opt: Option, texts: list[str]) -> tuple[tuple[Any, ...], list[str]]:
    """A list option's items -> (their values without repeats, one problem per bad item)."""
    items: list[Any] = []
    problems: list[str] = []
    for text in texts:
        try:
            items.append(opt.item(text))
        except ValueError as exc:
            problems.append(str(exc))
    return tuple(dict.fromkeys(items)), problems


def _option_value(opt: Option, raw: Any) -> tuple[Any, list[str]]:
    """A raw value (flag or env text, YAML value) -> (typed value, what is wrong with it)."""
    try:
        value = COERCE[opt.kind](raw)
    except (TypeError, ValueError) as exc:
        return None, [str(exc)]
    if opt.kind == "list":
        value, bad_items = _items(opt, value)
        if bad_items:
            return None, bad_items
    if value is None and opt.default is None:
        return None, []  # an optional option left unset: nothing to check
    problems = []
    if opt.choices and value not in opt.choices:
        problems.append(f"{value!r} is not one of {', '.join(opt.choices)}")
    if opt.check is not None:
        problems.extend(opt.check(value))
    return value, problems


def _resolve(
    values: dict[str, Any], environ: Mapping[str, str], isatty: bool
) -> tuple[dict[str, Any], list[str]]:
    """(values that come from outside the options, problems that span options), over the
    options that passed their own checks; keyed by option name like `values`."""
    problems: list[str] = []
    out: dict[str, Any] = {}
    if not values.get("region") and not values.get("demo"):
        region = default_region()
        if region:
            out["region"] = (region,)
        else:
            problems.append("--region: no region given and no AWS default region configured")
    # A --role-arn that did not parse is reported already, so it does not count as missing.
    if not values.get("base-account", True) and "role-arn" in values and not values["role-arn"]:
        problems.append("--no-base-account needs at least one --role-arn")
    if values.get("metric-allowlist") and values.get("metric-denylist"):
        problems.append("--metric-allowlist and --metric-denylist: give one or the other")
    out["endpoint-url"] = values.get("endpoint-url") or environ.get("AWS_ENDPOINT_URL") or None
    out["log-format"] = values.get("log-format") or ("console" if isatty else "json")
    return out, problems


def _price_table(path: str | None) -> tuple[PriceTable | None, list[str]]:
    if not path:
        return None, []
    try:
        return load_price_file(path), []
    except PriceError as exc:
        return None, [f"--price-file: {exc}"]


def build(raw: Mapping[str, Any], environ: Mapping[str, str], isatty: bool) -> Settings:
    """Merged raw values (flag name -> value) -> Settings, or ConfigError listing every problem."""
    defaults = dict(DEMO_DEFAULTS) if _truthy(raw.get("demo")) else {}
    problems: list[str] = []
    values: dict[str, Any] = {}
    for opt in OPTIONS:
        value, wrong = _option_value(opt, raw.get(opt.name, defaults.get(opt.name, opt.default)))
        problems.extend(f"--{opt.name}: {why}" for why in wrong)
        if not wrong:
            values[opt.name] = value
    resolved, wrong = _resolve(values, environ, isatty)
    price_table, bad_prices = _price_table(values.get("price-file"))
    problems += wrong + bad_prices
    if problems:
        raise ConfigError("; ".join(problems))
    values.update(resolved)
    return Settings(**{o.field: values[o.name] for o in OPTIONS}, price_table=price_table)


def family_filter(settings: Settings) -> Callable[[str], bool]:
    """Whether a job, tuning-job or host family is served: --metric-allowlist keeps only
    what it matches, --metric-denylist drops what it matches (each regex matches a whole
    family name)."""
    allow, deny = settings.metric_allowlist, settings.metric_denylist
    if allow:
        return lambda name: any(p.fullmatch(name) for p in allow)
    return lambda name: not any(p.fullmatch(name) for p in deny)
