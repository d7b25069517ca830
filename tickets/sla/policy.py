"""SLA policies from a TOML file: ordered, first match wins, each with its business calendar."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tickets.sla.calendar import WeeklyHours, WorkCalendar

DEFAULT_POLICY_FILE = Path(__file__).resolve().parent / "policies.toml"
PRIORITIES = ("urgent", "high", "normal", "low")
MATCH_KEYS = ("channel", "queue", "priority", "tier")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class PolicyError(ValueError):
    """The policy file is unusable; the message names the entry and the problem."""


def parse_duration(value: str | int | float, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise PolicyError(f"{where}: duration {value!r} is not like '15s', '2m', '4h' or '1d'")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise PolicyError(f"{where}: duration must be positive")
    return seconds


@dataclass(frozen=True)
class SlaPolicy:
    name: str
    match: dict[str, tuple[str, ...]]
    first_response_seconds: float | None
    next_response_seconds: float | None
    resolution_seconds: dict[str, float]
    calendar_name: str
    calendar: WorkCalendar = field(compare=False, repr=False)

    def applies_to(self, attributes: dict[str, str | None]) -> bool:
        return all(attributes.get(key) in allowed for key, allowed in self.match.items())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "match": {k: list(v) for k, v in self.match.items()},
            "first_response_seconds": self.first_response_seconds,
            "next_response_seconds": self.next_response_seconds,
            "resolution_seconds": self.resolution_seconds,
            "calendar": self.calendar_name,
        }


@dataclass(frozen=True)
class PolicySet:
    policies: tuple[SlaPolicy, ...]
    warning_share: float
    source: str

    def for_ticket(self, channel: str, queue: str, priority: str, tier: str | None = None) -> SlaPolicy | None:
        attributes = {"channel": channel, "queue": queue, "priority": priority, "tier": tier}
        return next((p for p in self.policies if p.applies_to(attributes)), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "warning_share": self.warning_share,
            "policies": [p.to_dict() for p in self.policies],
        }


def _calendar(name: str, calendars: dict[str, Any], base: Path) -> WorkCalendar:
    if name == "24x7":
        return WorkCalendar.always()
    spec = calendars.get(name)
    if not isinstance(spec, dict):
        raise PolicyError(f'calendar {name!r} is not defined: add a [calendars.{name}] table or use "24x7"')
    hours = {day: str(spec.get(day, "")) for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    weekly = WeeklyHours.parse(hours)
    holidays = spec.get("holidays")
    if holidays:
        path = Path(holidays)
        return WorkCalendar.load(path if path.is_absolute() else base / path, weekly)
    return WorkCalendar(weekly=weekly)


def load_policies(path: Path | None = None) -> PolicySet:
    path = path or DEFAULT_POLICY_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read SLA policies ({exc})") from exc
    share = float(data.get("warning_share", 0.8))
    if not 0 < share < 1:
        raise PolicyError(f"{path}: warning_share must be between 0 and 1")
    calendars = data.get("calendars", {})
    resolution_defaults = data.get("resolution", {})
    policies = []
    for index, entry in enumerate(data.get("policy", []), start=1):
        where = f"{path}: policy {index} ({entry.get('name', '?')})"
        match = entry.get("match", {})
        unknown = set(match) - set(MATCH_KEYS)
        if unknown:
            raise PolicyError(f"{where}: unknown match keys {sorted(unknown)}; use {', '.join(MATCH_KEYS)}")
        resolution = {**resolution_defaults, **entry.get("resolution", {})}
        policies.append(
            SlaPolicy(
                name=str(entry.get("name", f"policy {index}")),
                match={k: tuple(v if isinstance(v, list) else [v]) for k, v in match.items()},
                first_response_seconds=parse_duration(entry["first_response"], where)
                if "first_response" in entry
                else None,
                next_response_seconds=parse_duration(entry["next_response"], where)
                if "next_response" in entry
                else None,
                resolution_seconds={p: parse_duration(resolution[p], where) for p in PRIORITIES if p in resolution},
                calendar_name=str(entry.get("calendar", "24x7")),
                calendar=_calendar(str(entry.get("calendar", "24x7")), calendars, path.parent),
            )
        )
    if not policies:
        raise PolicyError(f"{path}: no [[policy]] entries")
    return PolicySet(tuple(policies), share, str(path))
