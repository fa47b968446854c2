"""The timeline picture of one model: which version held Production and each protected alias.

Geometry only (lanes, bars, marks, ticks as numbers and strings); the SVG itself is drawn by
``model_page``, which escapes every label. The x axis is the sequence of commits
that changed what the picture shows, evenly spaced and labelled with their dates: a history
made in an afternoon and one made over a year are both readable. Only the latest
``MAX_SLOTS`` commits are drawn; the chart says how many earlier ones it leaves out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from gitreg.core import record
from gitreg.core.entities import Stage
from gitreg.core.events import EventKind, RegistryEvent
from gitreg.core.fields import format_timestamp, parse_timestamp
from gitreg.store.timeline import Interval, alias_intervals, returns, stage_intervals

MAX_SLOTS = 40
STEP = 76  # px between two commits
LABEL_WIDTH = 128
LANE_HEIGHT = 34
TOP = 14
AXIS_HEIGHT = 40
RIGHT_PAD = 36
PALETTE = 8  # version colours, classes v0..v7 in site.css

_SHOWN = {
    EventKind.REGISTERED_MODEL_CREATED,
    EventKind.REGISTERED_MODEL_RENAMED,
    EventKind.MODEL_VERSION_CREATED,
    EventKind.MODEL_VERSION_DELETED,
}


@record.dataclass(frozen=True, slots=True)
class Lane:
    """A row of the chart: ``Versions``, ``Production`` or ``@alias``."""

    label: str
    y: int
    kind: str  # "versions", "stage" or "alias"


@record.dataclass(frozen=True, slots=True)
class Bar:
    """A version holding a lane's stage or alias from ``x`` for ``width`` pixels."""

    y: int
    x: float
    width: float
    version: int
    label: str
    title: str
    href: str | None
    color: int
    rollback: bool
    ongoing: bool
    pull_request: int | None


@record.dataclass(frozen=True, slots=True)
class Mark:
    """A point event on the Versions lane: a version registered or deleted, a rename."""

    y: int
    x: float
    kind: str  # "registered", "deleted", "created" or "renamed"
    label: str
    title: str
    href: str | None
    color: int


@record.dataclass(frozen=True, slots=True)
class Tick:
    """An axis label under a commit's slot."""

    x: float
    date: str
    time: str


@record.dataclass(frozen=True, slots=True)
class Chart:
    """Everything the timeline (``model_page``) draws."""

    title: str
    width: int
    height: int
    lanes: tuple[Lane, ...]
    bars: tuple[Bar, ...]
    marks: tuple[Mark, ...]
    ticks: tuple[Tick, ...]
    hidden: int  # earlier commits left out
    axis_y: int


@record.dataclass(frozen=True, slots=True)
class ChartLinks:
    """How the chart links out: a version's page, a pull request, a commit."""

    version: Callable[[int], str]
    pull_request: Callable[[int | None], str | None]
    commit: Callable[[str], str | None]


def build_chart(
    name: str, events: Sequence[RegistryEvent], aliases: Sequence[str], links: ChartLinks
) -> Chart:
    """The timeline of the model ``name`` from its events (oldest first)."""
    production = stage_intervals(events, Stage.PRODUCTION)
    by_alias = [(alias, alias_intervals(events, alias)) for alias in aliases]
    commits = _slots(events, production, by_alias)
    hidden = max(0, len(commits) - MAX_SLOTS)
    slot = {commit: i - hidden for i, commit in enumerate(commits) if i >= hidden}
    lanes = [Lane("Versions", TOP, "versions"), Lane("Production", TOP + LANE_HEIGHT, "stage")]
    lanes += [
        Lane(fit(f"@{alias}", LABEL_WIDTH - 12), TOP + LANE_HEIGHT * (i + 2), "alias")
        for i, (alias, _) in enumerate(by_alias)
    ]
    right = LABEL_WIDTH + len(slot) * STEP + RIGHT_PAD
    bars = _bars(lanes[1], "Production", production, slot, right, links)
    for lane, (alias, intervals) in zip(lanes[2:], by_alias, strict=True):
        bars += _bars(lane, f"@{alias}", intervals, slot, right, links)
    axis_y = TOP + LANE_HEIGHT * len(lanes)
    return Chart(
        title=f"Timeline of {name}: Production and protected aliases",
        width=right,
        height=axis_y + AXIS_HEIGHT,
        lanes=tuple(lanes),
        bars=tuple(bars),
        marks=tuple(_marks(lanes[0], events, slot, links)),
        ticks=tuple(_ticks(events, slot)),
        hidden=hidden,
        axis_y=axis_y,
    )


def _x(index: int) -> float:
    return LABEL_WIDTH + index * STEP + STEP / 2


def _slots(
    events: Sequence[RegistryEvent],
    production: Sequence[Interval],
    by_alias: Sequence[tuple[str, Sequence[Interval]]],
) -> list[str]:
    """The commits the chart shows, oldest first: point events and interval edges."""
    wanted = {e.commit for e in events if e.event.kind in _SHOWN}
    for intervals in [production, *(spans for _, spans in by_alias)]:
        for interval in intervals:
            wanted.add(interval.commit)
            if interval.ended_by:
                wanted.add(interval.ended_by)
    ordered: dict[str, None] = {}
    for item in events:
        if item.commit in wanted:
            ordered.setdefault(item.commit, None)
    return list(ordered)


def _bars(
    lane: Lane,
    what: str,
    intervals: Sequence[Interval],
    slot: dict[str, int],
    right: float,
    links: ChartLinks,
) -> list[Bar]:
    bars = []
    for interval, rollback in zip(intervals, returns(intervals), strict=True):
        start = slot.get(interval.commit)
        end = slot.get(interval.ended_by) if interval.ended_by else None
        if interval.ended_by is not None and end is None:
            continue  # over before the drawn window (it holds only the latest commits)
        x0 = _x(start) if start is not None else float(LABEL_WIDTH)
        x1 = _x(end) if end is not None else right
        label = f"v{interval.version}" + (" \u21ba" if rollback else "")
        bars.append(
            Bar(
                y=lane.y,
                x=x0,
                width=max(x1 - x0, 6.0),
                version=interval.version,
                label=label,
                title=_bar_title(what, interval, rollback),
                href=links.pull_request(interval.pull_request) or links.commit(interval.commit),
                color=interval.version % PALETTE,
                rollback=rollback,
                ongoing=interval.end is None,
                pull_request=interval.pull_request,
            )
        )
    return bars


def _bar_title(what: str, interval: Interval, rollback: bool) -> str:
    held = "is" if interval.end is None else "was"
    text = f"version {interval.version} {held} {what} from {short_time(interval.start)}"
    if interval.end:
        text += f" until {short_time(interval.end)}"
    text += f", set by {interval.author} in commit {interval.commit[:10]}"
    if interval.pull_request is not None:
        text += f" (pull request #{interval.pull_request})"
    if interval.approved_by is not None:  # as the audit recorded it (#24)
        text += f", approved by {', '.join(interval.approved_by) or 'nobody'}"
    if rollback:
        text += f"; a rollback: version {interval.version} held {what} before"
    return text


def _marks(
    lane: Lane, events: Sequence[RegistryEvent], slot: dict[str, int], links: ChartLinks
) -> list[Mark]:
    """One mark per commit on the Versions lane, naming everything that commit did."""
    found: dict[int, list[tuple[str, str, str, str | None, int]]] = {}
    for item in events:
        index = slot.get(item.commit)
        if index is not None and item.event.kind in _SHOWN:
            found.setdefault(index, []).append(_point(item, links))
    marks = []
    for index, points in sorted(found.items()):
        shown = [p for p in points if p[0] != "created"] or points  # a new model's first version
        kind, _, _, href, color = shown[0]
        label = fit(" ".join(p[1] for p in shown), STEP - 14)
        title = "; ".join(p[2] for p in points)
        marks.append(
            Mark(lane.y, _x(index), kind, label, title, href if len(shown) == 1 else None, color)
        )
    return marks


def _point(item: RegistryEvent, links: ChartLinks) -> tuple[str, str, str, str | None, int]:
    """(kind, label, title, link, colour) of one point event."""
    event = item.event
    when = f"{short_time(item.timestamp)} by {item.author}"
    color = (event.version or 0) % PALETTE
    if event.kind == EventKind.MODEL_VERSION_CREATED and event.version is not None:
        title = f"version {event.version} registered {when} ({event.source})"
        return "registered", f"v{event.version}", title, links.version(event.version), color
    if event.kind == EventKind.MODEL_VERSION_DELETED:
        return (
            "deleted",
            f"\u00d7v{event.version}",
            f"version {event.version} deleted {when}",
            None,
            color,
        )
    if event.kind == EventKind.REGISTERED_MODEL_RENAMED:
        title = f"renamed from {event.old_name} to {event.name} {when}"
        return "renamed", "renamed", title, links.commit(item.commit), color
    return (
        "created",
        "created",
        f"model {event.name} created {when}",
        links.commit(item.commit),
        color,
    )


def fit(text: str, width: float) -> str:
    """``text`` cut to about ``width`` pixels of 12px text, with an ellipsis if cut."""
    room = max(3, int(width / 7))
    return text if len(text) <= room else text[: room - 1] + "\u2026"


def _ticks(events: Sequence[RegistryEvent], slot: dict[str, int]) -> list[Tick]:
    when = {item.commit: item.timestamp for item in events if item.commit in slot}
    ticks, last_date, last_time = [], "", ""
    for commit, index in sorted(slot.items(), key=lambda kv: kv[1]):
        date, _, time = short_time(when[commit]).partition(" ")
        fresh = date != last_date or time != last_time  # label a moment once
        ticks.append(Tick(_x(index), date if date != last_date else "", time if fresh else ""))
        last_date, last_time = date, time
    return ticks


@functools.lru_cache(maxsize=4096)
@functools.lru_cache(maxsize=1024)  # a model's events share few times (#26)
def short_time(iso: str) -> str:
    """An ISO-8601 time as ``YYYY-MM-DD HH:MM`` in UTC."""
    try:
        text = format_timestamp(parse_timestamp(iso))
    except ValueError:
        return iso
    return text[:16].replace("T", " ")
