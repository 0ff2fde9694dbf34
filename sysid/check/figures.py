"""Figures of `sysid check`: a decimated overview of one log's signals, and the predicted standard errors."""

from __future__ import annotations

import os

import numpy as np
from matplotlib.figure import Figure

from sysid.check.finding import Finding
from sysid.data import Log
from sysid.data.mapfile import signal_name
from sysid.io import save_figure
from sysid.params import ParamSet

MAX_POINTS = 2000  # points drawn per signal (min/max decimation keeps spikes and clipping visible)
MAX_SIGNALS = 16
COLORS = {"identifiable": "tab:green", "weak": "tab:orange", "not identifiable": "tab:red"}


def decimate(time: np.ndarray, x: np.ndarray, points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(N,) time s and values -> at most `points` (time, value) pairs: each block's minimum and maximum, in order."""
    n = len(time)
    if n <= points:
        return time, x
    blocks = np.array_split(np.arange(n), points // 2)
    idx = np.concatenate([np.sort([b[np.argmin(x[b])], b[np.argmax(x[b])]]) for b in blocks])
    return time[idx], x[idx]


def plot_data(path: str | os.PathLike, log: Log, findings: list[Finding]) -> None:
    """One row per signal of `log` (positions, velocities, efforts, commands), decimated; a signal's
    findings are named in red in its title, and gaps are shaded."""
    signals = [(signal_name(k, "pos"), v) for k, v in log.pos.items()] + [(signal_name(k, "vel"), v) for k, v in log.vel.items()] \
        + [(f"{k}.effort", v) for k, v in log.effort.items()] + [(f"{k}.ctrl", v) for k, v in log.ctrl.items()]
    signals = signals[:MAX_SIGNALS]
    fig = Figure(figsize=(10, 0.8 + 1.6 * len(signals)), layout="constrained")
    axes = fig.subplots(len(signals), 1, squeeze=False, sharex=True)[:, 0]
    dt = np.diff(log.time)
    gaps = np.flatnonzero(dt > 3 * np.median(dt))
    for ax, (name, values) in zip(axes, signals):
        t, x = decimate(log.time, values)
        ax.plot(t, x, color="black", lw=0.7)
        for g in gaps:
            ax.axvspan(log.time[g], log.time[g + 1], color="tab:red", alpha=0.2)
        kinds = sorted({f.kind for f in findings if f.signal == name})
        ax.set_title(name + ("" if not kinds else "   " + ", ".join(kinds)), loc="left", fontsize=10,
                     color="tab:red" if kinds else "black")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time [s]")
    general = sorted({f.kind for f in findings if f.signal in (None, "time")})
    fig.suptitle(f"{os.path.basename(log.source)}: {len(log.time)} rows, {log.duration:.3g} s"
                 + (f"  ({', '.join(general)})" if general else ""), fontsize=11)
    save_figure(fig, path)


def plot_std(path: str | os.PathLike, report, params: ParamSet) -> None:
    """Left: each parameter's predicted 95% interval (value +- 1.96 std) inside its bounds, in the
    search scale (the bounds at 0 and 1). Right: predicted std relative to the value (log scale)
    with the verdict thresholds. Colours give the verdicts."""
    from sysid.check.identify import IDENTIFIABLE, WEAK

    names = list(report.params)
    rows = [report.params[n] for n in names]
    values = np.array([r["value"] for r in rows])
    std = np.array([r["predicted_std"] for r in rows])
    u = params.to_unit(values)
    vpu = np.abs(params.value_per_unit(values))
    half = np.where(np.isfinite(std), 1.96 * std / vpu, 2.0)
    colors = [COLORS[r["verdict"]] for r in rows]
    y = np.arange(len(names))[::-1]
    fig = Figure(figsize=(11, 1.2 + 0.35 * len(names)), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    left.barh(y, np.minimum(u + half, 1.05) - np.maximum(u - half, -0.05), left=np.maximum(u - half, -0.05), color=colors, alpha=0.7)
    left.plot(u, y, "k|", ms=12)
    for side in (0, 1):
        left.axvline(side, color="black", lw=1)
    left.set_xlim(-0.05, 1.05)
    left.set_yticks(y, names)
    left.set_xlabel("predicted 95% interval inside the bounds (search scale: lower = 0, upper = 1)")
    rel = np.array([r["relative_std"] for r in rows])
    shown = np.where(np.isfinite(rel), rel, 1e3)
    right.barh(y, shown, color=colors, alpha=0.7)
    right.set_xscale("log")
    right.set_xlim(min(1e-4, shown.min() / 2), max(2.0, shown.max() * 2))
    for level in (IDENTIFIABLE, WEAK):
        right.axvline(level, color="gray", ls="--", lw=1)
    right.set_xlabel("predicted std / value (dashed: identifiable, weak limits)")
    for ax in (left, right):
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle(f"what the logs can identify ({report.horizon:g} s windows)", fontsize=11)
    save_figure(fig, path)


__all__ = ["decimate", "plot_data", "plot_std"]
