"""The monthly report's chart (matplotlib, in memory): what a manager looks at first.

Left: how fast tickets got their first answer, as the share of the month's tickets answered
within N minutes (an empirical distribution over every ticket, so the unanswered ones keep
the curve below 100 %), with the target line and the share that met it. Right: the worst
services only (20 at most, by availability, then downtime), against the terms' bands, each
value printed, so the picture reads the same for 3 services or 100 000.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sla import Channel, SlaConfig, TicketRecord

WORST = 20
LABEL_LIMIT = 38
BAND_COLORS = ("#f4cccc", "#fce5cd", "#fff2cc", "#d9ead3")  # severe, major, minor, met


def report_chart(
    report: dict[str, Any],
    tickets: Sequence[TicketRecord],
    target_minutes: float,
    config: SlaConfig | None = None,
) -> bytes:
    """PNG bytes of the two panels (`report`: report_to_dict's shape)."""
    config = config or SlaConfig()
    figure = Figure(figsize=(13, 6), dpi=100)
    FigureCanvasAgg(figure)
    responses, availability = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.25]})
    telegram = [t for t in tickets if t.channel is Channel.TELEGRAM]
    _first_response_panel(responses, telegram, target_minutes, report)
    _availability_panel(availability, report["services"], config)
    heading = f"SLA report {report['month']} ({report['timezone']})"
    if report.get("partial"):
        heading += f" — month to date, as of {_local_as_of(report, config)}"
    figure.suptitle(heading, fontsize=13, fontweight="bold")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _local_as_of(report: dict[str, Any], config: SlaConfig) -> str:
    moment = datetime.fromisoformat(str(report["as_of"]).replace("Z", "+00:00"))
    return moment.astimezone(config.zone).strftime("%Y-%m-%d %H:%M")


def _plain(axes: Axes, title: str, text: str) -> None:
    axes.set_title(title, loc="left", fontsize=11, pad=14)
    axes.set_axis_off()
    axes.text(0.5, 0.5, text, ha="center", va="center", fontsize=14, transform=axes.transAxes)


def _first_response_panel(
    axes: Axes, tickets: Sequence[TicketRecord], target: float, report: dict[str, Any]
) -> None:
    title = "First response in Telegram"
    if not tickets:
        _plain(axes, title, "No tickets this month")
        return
    minutes = sorted(
        (t.first_response_at - t.opened_at).total_seconds() / 60
        for t in tickets
        if t.first_response_at is not None
    )
    total = len(tickets)
    unanswered = total - len(minutes)
    within = sum(1 for m in minutes if m <= target)
    edge = max(3 * target, minutes[int(0.95 * (len(minutes) - 1))] if minutes else 0.0)
    edge = min(edge, 24 * 60.0)
    xs = [0.0, *minutes, edge]
    ys = [0.0, *(100 * (i + 1) / total for i in range(len(minutes))), 100 * len(minutes) / total]
    axes.step(xs, ys, where="post", color="tab:blue", linewidth=2, label="answered within x")
    axes.axvspan(0, target, color=BAND_COLORS[3], zorder=0)
    axes.axvline(target, color="black", linestyle="--", linewidth=1)
    share = 100 * within / total
    axes.annotate(
        f"target {target:g} min:\n{share:.1f} % of {total} within",
        xy=(target, share),
        xytext=(0.45, 0.35),
        textcoords="axes fraction",
        fontsize=11,
        arrowprops={"arrowstyle": "->", "color": "black"},
    )
    if unanswered:
        axes.axhspan(100 * len(minutes) / total, 100, color="#eeeeee", zorder=0)
        label = f"{unanswered} not answered" + (" yet" if report.get("partial") else "")
        axes.text(
            0.02, 0.995, label, ha="left", va="top", color="tab:red", fontsize=10,
            fontweight="bold", transform=axes.transAxes,
        )  # fmt: skip
    later = sum(1 for m in minutes if m > edge)
    if later:
        axes.text(0.98, 0.04, f"{later} answered after {edge:g} min", ha="right",
                  fontsize=9, transform=axes.transAxes)  # fmt: skip
    axes.set_xlim(0, edge)
    axes.set_ylim(0, 100)
    axes.set_xlabel("minutes to the first answer")
    axes.set_ylabel("% of the month's tickets")
    axes.set_title(title, loc="left", fontsize=11, pad=14)
    axes.grid(alpha=0.3)


def _worst(services: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    measured = [s for s in services if s["availability_percent"] is not None]
    measured.sort(key=lambda s: (s["availability_percent"], -s["downtime_minutes"]))
    return measured[:WORST]


def _label(service: dict[str, Any]) -> str:
    text = f"{service['customer']} — {service['service_name']}"
    if len(text) > LABEL_LIMIT:
        text = text[: LABEL_LIMIT - 1] + "…"
    return text


def _availability_panel(axes: Axes, services: Sequence[dict[str, Any]], config: SlaConfig) -> None:
    target = float(config.availability_target_percent)
    band = float(config.band_lower_bound_percent)
    major = float(config.major_lower_bound_percent)
    worst = _worst(services)
    below = sum(
        1 for s in services if s["availability_percent"] is not None
        and s["availability_percent"] < target
    )  # fmt: skip
    title = (
        f"Availability: worst {len(worst)} of {len(services)} services, {below} below {target:g} %"
    )
    if not worst:
        _plain(axes, "Availability", "No active services this month")
        return
    values = [s["availability_percent"] for s in worst]
    low = min(min(values) - 1, major - 1)
    low = max(0.0, float(int(low)))
    edges = [low, major, band, target, 100.0]
    for color, start, end in zip(BAND_COLORS, edges, edges[1:], strict=False):
        if end > low:
            axes.axvspan(max(start, low), end, color=color, zorder=0)
    top = axes.get_xaxis_transform()  # x in data, y in axes fraction
    for bound in (major, band, target):
        axes.axvline(bound, color="grey", linestyle=":", linewidth=1)
        axes.text(bound, 1.005, f"{bound:g}", transform=top, ha="center", va="bottom", fontsize=8)
    positions = list(range(len(worst)))
    colors = ["tab:red" if v < target else "tab:green" for v in values]
    axes.barh(positions, [v - low for v in values], left=low, color=colors, height=0.6)
    span = 100 - low
    for position, service, value in zip(positions, worst, values, strict=True):
        credit = service["total_credit_amount"]
        note = f"{value:.4f} %"
        if credit != "0.00":
            note += f" · credit {credit} {service['currency']}"
        if value - low > 0.6 * span:  # a long bar: the figure inside it, in white
            axes.text(value - 0.01 * span, position, note, va="center", ha="right",
                      fontsize=8, color="white", fontweight="bold")  # fmt: skip
        else:
            axes.text(value + 0.01 * span, position, note, va="center", fontsize=8)
    axes.set_yticks(positions, [_label(s) for s in worst], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(low, 100)
    axes.set_ylim(len(worst) - 0.5, -0.9)
    credits = " / ".join(
        f"{percent:g} %"
        for percent in (
            config.severe_credit_percent,
            config.major_credit_percent,
            config.band_credit_percent,
        )
    )
    axes.set_xlabel(f"availability, %; band credits left to right: {credits} / none")
    axes.set_title(title, loc="left", fontsize=11, pad=14)
