"""Watch rules and their alerts: wire schemas (msgspec) for the API, the store and the engine.

A rule is a condition on a run (a metric series, its liveness or its status) plus actions taken
when the condition becomes true. Conditions and actions are tagged unions on ``type``, so a bad
rule is refused with a 400 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec

from runwatch.protocol import NO_NUL, CommandKind, RunId

# No NUL: no metric key has one (and PostgreSQL's TEXT, where a rule's name is kept, holds none).
Key = Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=NO_NUL)]
Positive = Annotated[float, msgspec.Meta(gt=0, le=525_600)]  # minutes: at most a year
Steps = Annotated[int, msgspec.Meta(ge=1, le=2**62)]
Points = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
Level = Literal["info", "warning", "error"]
# JSON numbers past float range decode to inf, which has no JSON form to store: refused.
Finite = Annotated[float, msgspec.Meta(ge=-1e308, le=1e308)]
WatchedStatus = Literal["succeeded", "failed", "cancelled", "crashed"]
MAX_ACTIONS = 8


class _Tagged(msgspec.Struct, tag_field="type", forbid_unknown_fields=True):
    pass


class NonFinite(_Tagged, tag="nonfinite"):
    """A value of ``key`` is NaN or ±inf."""

    key: Key


class Threshold(_Tagged, tag="threshold"):
    """``key`` is ``above`` (or ``below``) ``value`` for ``points`` consecutive points."""

    key: Key
    op: Literal["above", "below"]
    value: Finite
    points: Points = 1


class Plateau(_Tagged, tag="plateau"):
    """The best value of ``key`` (``mode`` min or max) has not improved by more than
    ``min_delta`` for ``steps`` steps and/or ``minutes`` minutes."""

    key: Key
    mode: Literal["min", "max"] = "min"
    steps: Steps | None = None
    minutes: Positive | None = None
    min_delta: Annotated[float, msgspec.Meta(ge=0, le=1e308)] = 0.0

    def __post_init__(self) -> None:
        if self.steps is None and self.minutes is None:
            raise ValueError("a plateau needs `steps` or `minutes`")


class Stalled(_Tagged, tag="stalled"):
    """A running run has sent no metric points for ``minutes`` minutes."""

    minutes: Positive


class StatusIs(_Tagged, tag="status"):
    """The run's status became one of ``states``."""

    states: Annotated[list[WatchedStatus], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["failed", "crashed"]
    )


Condition = NonFinite | Threshold | Plateau | Stalled | StatusIs


class EventAction(_Tagged, tag="event"):
    """The level of the ``alert`` event put into the run's feed (every firing records one)."""

    level: Level = "warning"


class WebhookAction(_Tagged, tag="webhook"):
    """POST the alert as JSON (Slack's ``text`` and Discord's ``content`` included) to ``url``."""

    url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s/]+", max_length=2000)]

    def __post_init__(self) -> None:
        try:  # the pattern admits hosts urlsplit refuses (an unbalanced "[", a bad port)
            parts = urlsplit(self.url)
            host, _port = parts.hostname, parts.port
        except ValueError as exc:
            raise ValueError(f"the webhook url cannot be parsed: {exc}") from None
        if not host:
            raise ValueError("the webhook url needs a host")


class CommandAction(_Tagged, tag="command"):
    """Send a command of ``kind`` with ``payload`` to the run's producer."""

    kind: CommandKind
    payload: dict[str, Any] = {}


class CancelAction(_Tagged, tag="cancel"):
    """Cancel the run, as the dashboard's Cancel button does."""


Action = EventAction | WebhookAction | CommandAction | CancelAction


class RuleIn(msgspec.Struct, forbid_unknown_fields=True):
    """Body of ``POST /api/v1/projects/{project}/rules`` (and one ``[[rules]]`` of a rules file).

    ``run`` limits the rule to one run; ``cooldown`` (seconds) is the least time between two
    alerts of the rule on the same run.
    """

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NO_NUL)]
    condition: Condition
    actions: Annotated[list[Action], msgspec.Meta(max_length=MAX_ACTIONS)] = []
    run: RunId | None = None
    cooldown: Annotated[float, msgspec.Meta(ge=0, le=30 * 86_400)] = 600.0


class Rule(msgspec.Struct):
    """A stored rule. ``source`` is ``api`` or ``file`` (loaded by ``serve --rules``)."""

    id: int
    project: str
    name: str
    run: str | None
    condition: Condition
    actions: list[Action]
    cooldown: float
    source: str
    created_at: float

    @property
    def level(self) -> str:
        """The level of this rule's alert events: its ``event`` action's, else warning."""
        return next((a.level for a in self.actions if isinstance(a, EventAction)), "warning")


class Alert(msgspec.Struct):
    """One firing of a rule on a run: recorded once per episode, with what its actions did.

    ``actions`` has one entry per action of the rule: ``{"type", "state", ...}`` where state is
    ``done``, ``pending``, ``delivered`` or ``failed`` (with ``error`` and ``attempts``).
    """

    id: int
    rule_id: int
    rule_name: str
    project: str
    run_id: str
    run_name: str
    ts: float
    level: str
    message: str
    detail: dict[str, Any]
    event_seq: int
    actions: list[dict[str, Any]]


def mask_url(url: str) -> str:
    """A webhook URL with its secret parts hidden: ``https://hooks.slack.com/…``
    (``http://[::1]/…`` for an IPv6 host, so the masked URL is still a URL)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}/…"


def masked(rule: Rule) -> Rule:
    """The rule as the API shows it: webhook URLs are secrets, never echoed back in full."""
    actions: list[Action] = [
        WebhookAction(mask_url(a.url)) if isinstance(a, WebhookAction) else a for a in rule.actions
    ]
    return msgspec.structs.replace(rule, actions=actions)
