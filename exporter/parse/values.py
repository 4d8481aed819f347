"""Option values: what a flag's text, an environment variable or a YAML value means.

Pure: each parser takes what was written and returns the value, or raises ValueError (or
TypeError) saying why; exporter/options.py says which parser an option uses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


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


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"bad boolean {value!r}")


def _as_list(value: Any) -> list[str]:
    # A flag given twice, a YAML list and "a,b" in one variable all mean the same two items.
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    out: list[str] = []
    for item in items:
        out.extend(p.strip() for p in str(item).split(",") if p.strip())
    return out


#: Option kind -> raw value (flag or env text, or a YAML value) -> typed value; ValueError or
#: TypeError says why. A list's items are then parsed one by one by the option's `item`.
COERCE: dict[str, Callable[[Any], Any]] = {
    # Kept as given: a YAML number stays a number, so a choices error shows what was written.
    "str": lambda value: value,
    "int": lambda value: None if value is None else int(value),
    "float": lambda value: None if value is None else float(value),
    "duration": parse_duration,
    "bool": as_bool,
    "list": _as_list,
}
