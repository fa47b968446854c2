"""Metric trends on a model's page (#29): one small chart per metric over version numbers.

Geometry only (axes, points, the line through them, ticks); the SVG is ``model_page``'s, so
every label is escaped. Each point is a version: its colour is the stage it is in, a ring
marks a version that held Production before (its stage "at the time" of its service), and
its data attributes carry what a hover shows (``static/model.js``): the version, the value
and its stage history. Versions are placed by number, so a deleted version leaves a gap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from markupsafe import Markup

from gitreg.core import record
from gitreg.core.entities import ModelVersion, Stage
from gitreg.core.events import EventKind, RegistryEvent

MAX_CHARTS = 12  # metrics charted; a model with more says how many it left out
WIDTH = 520
HEIGHT = 180
LEFT = 56
RIGHT = 16
TOP = 14
BOTTOM = 34


@record.dataclass(frozen=True, slots=True)
class Point:
    """One version's value of the metric."""

    x: float
    y: float
    version: int
    value: float
    stage: str  # its stage now, lower case (a CSS class)
    served: bool  # it held Production before, and does not now
    tip: str  # what hovering shows

    @property
    def geometry(self) -> Markup:
        """Its link, class and place, as SVG attributes: numbers and a stage name only."""
        served = " served" if self.served else ""
        return Markup(
            f'href="v{self.version}.html"><circle class="point stage-{self.stage}{served}" '
            f'cx="{self.x}" cy="{self.y}" r="4.5" tabindex="0"'
        )


@record.dataclass(frozen=True, slots=True)
class Tick:
    """A label on an axis."""

    at: float
    label: str


@record.dataclass(frozen=True, slots=True)
class Trend:
    """The chart of one metric."""

    metric: str
    width: int
    height: int
    points: tuple[Point, ...]
    path: str  # the line through the points, as SVG path data
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    best: int | None  # the version with the highest value

    @property
    def frame(self) -> Markup:
        """The axes, grid lines, tick labels and line, as SVG.

        Made of numbers only (coordinates, values formatted by ``_number``, version numbers),
        so it is built here rather than in the template: a page draws thousands of them.
        """
        bottom, right = self.height - BOTTOM, self.width - RIGHT
        parts = [
            f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"></line>',
            f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}"></line>',
        ]
        for tick in self.y_ticks:
            parts.append(
                f'<line class="grid" x1="{LEFT}" y1="{tick.at}" x2="{right}" y2="{tick.at}">'
                f'</line><text class="tick-y" x="{LEFT - 6}" y="{tick.at + 4}">{tick.label}</text>'
            )
        parts += [
            f'<text class="tick-x" x="{tick.at}" y="{self.height - 16}">{tick.label}</text>'
            for tick in self.x_ticks
        ]
        parts.append(f'<path class="trend-line" d="{self.path}"></path>')
        return Markup("".join(parts))


@record.dataclass(frozen=True, slots=True)
class Trends:
    """Every chart of a model, and how many metrics were left out."""

    charts: tuple[Trend, ...]
    hidden: int


def build_trends(versions: Sequence[ModelVersion], events: Sequence[RegistryEvent]) -> Trends:
    """The charts of the metrics ``versions`` carry (the most common first)."""
    counts: dict[str, int] = {}
    for mv in versions:
        for key, value in mv.metrics.items():
            if _finite(value):
                counts[key] = counts.get(key, 0) + 1
    names = sorted(counts, key=lambda k: (-counts[k], k))
    history = stage_history(events)
    charts = tuple(_chart(name, versions, history) for name in names[:MAX_CHARTS])
    return Trends(charts, max(0, len(names) - MAX_CHARTS))


def stage_history(events: Sequence[RegistryEvent]) -> dict[int, list[tuple[str, str, str]]]:
    """Version -> its stage changes, oldest first: (from, to, when)."""
    found: dict[int, list[tuple[str, str, str]]] = {}
    for item in events:
        event = item.event
        if event.kind == EventKind.MODEL_VERSION_TRANSITIONED_STAGE and event.version is not None:
            found.setdefault(event.version, []).append(
                (str(event.from_stage), str(event.to_stage), item.timestamp[:10])
            )
    return found


def _finite(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(float(value))


def _chart(
    metric: str,
    versions: Sequence[ModelVersion],
    history: Mapping[int, list[tuple[str, str, str]]],
) -> Trend:
    values = [(mv, float(mv.metrics[metric])) for mv in versions if _finite(mv.metrics.get(metric))]
    numbers = [mv.version for mv, _ in values]
    low_x, high_x = min(numbers), max(numbers)
    low_y, high_y = min(v for _, v in values), max(v for _, v in values)
    if high_y == low_y:
        pad = abs(high_y) * 0.05 or 1.0
        low_y, high_y = low_y - pad, high_y + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(number: int) -> float:
        if high_x == low_x:
            return LEFT + plot_w / 2
        return round(LEFT + (number - low_x) / (high_x - low_x) * plot_w, 2)

    def y_of(value: float) -> float:
        return round(TOP + (high_y - value) / (high_y - low_y) * plot_h, 2)

    points = tuple(
        Point(
            x_of(mv.version),
            y_of(value),
            mv.version,
            value,
            mv.current_stage.value.lower(),
            _served(mv, history.get(mv.version, [])),
            _tip(metric, mv, value, history.get(mv.version, [])),
        )
        for mv, value in values
    )
    path = " ".join(f"{'M' if i == 0 else 'L'}{p.x},{p.y}" for i, p in enumerate(points))
    best = max(values, key=lambda pair: pair[1])[0].version
    return Trend(
        metric,
        WIDTH,
        HEIGHT,
        points,
        path,
        _x_ticks(numbers, x_of),
        tuple(Tick(y_of(v), _number(v)) for v in _levels(low_y, high_y)),
        best,
    )


def _served(mv: ModelVersion, changes: Sequence[tuple[str, str, str]]) -> bool:
    held = any(to == Stage.PRODUCTION.value for _, to, _ in changes)
    return held and mv.current_stage != Stage.PRODUCTION


def _tip(
    metric: str, mv: ModelVersion, value: float, changes: Sequence[tuple[str, str, str]]
) -> str:
    text = f"version {mv.version}: {metric} = {_number(value)} · {mv.current_stage.value}"
    if changes:
        text += " · " + ", ".join(f"{to} {when}" for _, to, when in changes[-4:])
    return text


def _number(value: float) -> str:
    return f"{value:.4g}"


def _levels(low: float, high: float) -> list[float]:
    return [low + (high - low) * i / 3 for i in range(4)]


def _x_ticks(numbers: Sequence[int], x_of: Callable[[int], float]) -> tuple[Tick, ...]:
    shown = sorted(set(numbers))
    if len(shown) > 8:
        step = len(shown) / 7
        shown = sorted({shown[min(len(shown) - 1, round(i * step))] for i in range(8)})
    return tuple(Tick(x_of(n), f"v{n}") for n in shown)
