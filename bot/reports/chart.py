"""The report's chart: restarts per day of the listed workloads, one line per workload, as PNG bytes.

Built on matplotlib's object API (`Figure` + the Agg canvas) rather than pyplot: no global figure state, no GUI
backend, safe in a server that renders from several tasks, and nothing happens at import time.
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bot.reports.model import HotspotReport

MAX_SERIES = 10
SIZE_INCHES = (10.0, 5.0)
DPI = 100


def figure(report: HotspotReport) -> Figure:
    """The chart as a matplotlib Figure (tests inspect its lines and labels)."""
    fig = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    series = report.series()[:MAX_SERIES]
    days = [d for d, _ in series[0].points] if series else []
    x = list(range(len(days)))
    for s in series:
        ax.plot(x, [n for _, n in s.points], marker="o", linewidth=2, label=s.label)
    ax.set_xticks(x, [d.strftime("%a %d %b") for d in days])
    ax.set_xlabel(f"day ({report.timezone})")
    ax.set_ylabel("container restarts")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, axis="y", alpha=0.3)
    partial = " · partial data" if report.partial else ""
    ax.set_title(f"Restarts per day · {report.environment} · {len(series)} workloads{partial}")
    if series:
        ax.legend(loc="best", fontsize="small", frameon=False)
    return fig


def png(report: HotspotReport) -> bytes:
    """The chart rendered to PNG."""
    fig = figure(report)
    FigureCanvasAgg(fig)
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
