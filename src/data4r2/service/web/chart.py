"""The throughput chart as numbers for an inline SVG (no chart library, no script): the page
draws a polyline in a fixed viewBox, so it scales to any width without recomputing."""

from __future__ import annotations

from dataclasses import dataclass

from . import format as fmt

WIDTH, HEIGHT = 600, 160  # the SVG's viewBox; CSS stretches it to the page


@dataclass(frozen=True, slots=True)
class Chart:
    points: str  # "x,y x,y …" for <polyline points=…>, empty when there is nothing to draw
    area: str  # the same line closed along the bottom, for a filled <polygon>
    peak: str  # the top of the y axis, e.g. "12.5 MB/s"
    span: str  # the x axis, e.g. "3 min 20 s"
    summary: str  # one sentence for screen readers (the SVG's <title>)


def _nice_ceiling(value: float) -> float:
    """1, 2 or 5 times a power of ten at or above `value`: axis tops people can read."""
    if value <= 0:
        return 1.0
    power = 1.0
    while power * 10 <= value:
        power *= 10
    while power > value:
        power /= 10
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def throughput_chart(series: list[tuple[float, float]]) -> Chart:
    """`series` is (unix time, bytes/s) in time order (see throughput.rates)."""
    if len(series) < 2:
        return Chart("", "", fmt.rate(0), fmt.duration(0), "Not enough samples yet.")
    t0, t1 = series[0][0], series[-1][0]
    span = max(t1 - t0, 1e-9)
    peak = max(r for _, r in series)
    top = _nice_ceiling(peak)
    xy = [(WIDTH * (t - t0) / span, HEIGHT * (1 - r / top)) for t, r in series]
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    area = f"{xy[0][0]:.1f},{HEIGHT} {points} {xy[-1][0]:.1f},{HEIGHT}"
    mean = sum(r for _, r in series) / len(series)
    summary = f"Throughput over {fmt.duration(span)}: peak {fmt.rate(peak)}, mean {fmt.rate(mean)}."
    return Chart(points, area, fmt.rate(top), fmt.duration(span), summary)
