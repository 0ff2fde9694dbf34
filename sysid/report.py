"""Figures of a fit: logged vs simulated signals, and optimiser convergence.

Figures are built on `matplotlib.figure.Figure` directly (no pyplot, no display needed)
and written atomically with `sysid.io.save_figure`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from matplotlib.figure import Figure

from sysid.io import PathLike, save_figure

MAX_ROWS = 12
MAX_POINTS = 5000  # points drawn per row at most (long logs are decimated: the figure stays small)


@dataclasses.dataclass(frozen=True)
class Trace:
    """One signal of one log, as logged and as simulated before and after the fit.

    Attributes:
      log_name: the log it comes from (e.g. "run1.csv"); rows of one log share the x axis.
      signal: the signal name, e.g. "elbow.pos".
      time: (N,) seconds.
      logged: (N,) measured values.
      before: (N,) simulated with the initial parameters; NaN where the simulation diverged.
      after: (N,) simulated with the fitted parameters; NaN where the simulation diverged.
      unit: unit of the values, e.g. "rad".
    """

    log_name: str
    signal: str
    time: np.ndarray
    logged: np.ndarray
    before: np.ndarray
    after: np.ndarray
    unit: str = ""

    def __post_init__(self):
        n = np.shape(self.time)
        for name in ("time", "logged", "before", "after"):
            arr = np.asarray(getattr(self, name), dtype=float)
            if arr.ndim != 1 or arr.shape != n:
                raise ValueError(f"Trace {self.signal} ({self.log_name}): {name} has shape {arr.shape}, expected (N,) = {n}")
            object.__setattr__(self, name, arr)


def rmse(sim: np.ndarray, logged: np.ndarray) -> float:
    """Root-mean-square of `sim - logged` over samples where `logged` is finite; NaN if `sim` is not finite there."""
    ok = np.isfinite(logged)
    err = sim[ok] - logged[ok]
    return float(np.sqrt(np.mean(err**2))) if err.size and np.all(np.isfinite(err)) else float("nan")


def _fmt(x: float) -> str:
    return f"{x:.2g}" if np.isfinite(x) else "diverged"


def _ylim(tr: Trace) -> tuple[float, float] | None:
    """Limits that show all finite data, but no more than 2 logged spans beyond the logged range."""
    logged = tr.logged[np.isfinite(tr.logged)]
    if not logged.size:
        return None
    lo, hi = float(logged.min()), float(logged.max())
    span = hi - lo or max(abs(hi), 1.0)
    data = np.concatenate([v[np.isfinite(v)] for v in (tr.logged, tr.before, tr.after)])
    lo = max(float(data.min()), lo - 2 * span)
    hi = min(float(data.max()), hi + 2 * span)
    pad = 0.05 * (hi - lo or span)
    return lo - pad, hi + pad


def plot_fit(path: PathLike, traces: list[Trace], *, title: str = "", hidden: int = 0) -> None:
    """Writes a PNG with one row per (log, signal): logged (black), before (red dashed), after (blue).

    Rows are grouped by log in order of first appearance and share the time axis within a log.
    At most `MAX_ROWS` rows are drawn; the title says how many were left out (`hidden`: rows the
    caller left out of `traces` already).
    """
    if not traces:
        raise ValueError("plot_fit: no traces to plot")
    logs = list(dict.fromkeys(t.log_name for t in traces))
    rows = sorted(traces, key=lambda t: logs.index(t.log_name))
    shown, left_out = rows[:MAX_ROWS], max(len(rows) - MAX_ROWS, hidden)
    fig = Figure(figsize=(10, 0.8 + 2.0 * len(shown)), layout="constrained")
    axes = fig.subplots(len(shown), 1, squeeze=False)[:, 0]
    first: dict[str, object] = {}
    for i, (ax, tr) in enumerate(zip(axes, shown)):
        if tr.log_name in first:
            ax.sharex(first[tr.log_name])
        else:
            first[tr.log_name] = ax
        # Logged is drawn last, thin and on top, so a good fit does not hide it.
        ax.plot(tr.time, np.where(np.isfinite(tr.before), tr.before, np.nan), color="tab:red", ls="--", lw=1.2, label="before")
        ax.plot(tr.time, np.where(np.isfinite(tr.after), tr.after, np.nan), color="tab:blue", lw=2.2, alpha=0.6, label="after")
        ax.plot(tr.time, tr.logged, color="black", lw=0.7, label="logged")
        if (lim := _ylim(tr)) is not None:
            ax.set_ylim(*lim)
        unit = f" {tr.unit}" if tr.unit else ""
        ax.set_title(
            f"{tr.signal} ({tr.log_name})  RMSE {_fmt(rmse(tr.before, tr.logged))} -> {_fmt(rmse(tr.after, tr.logged))}{unit}",
            fontsize=10, loc="left",
        )
        ax.set_ylabel(f"{tr.signal} [{tr.unit}]" if tr.unit else tr.signal)
        ax.grid(alpha=0.3)
        last_of_log = i + 1 == len(shown) or shown[i + 1].log_name != tr.log_name
        if last_of_log:
            ax.set_xlabel("time [s]")
        else:
            ax.tick_params(labelbottom=False)
    handles, labels = axes[0].get_legend_handles_labels()
    order = [labels.index(k) for k in ("logged", "before", "after")]
    fig.legend([handles[k] for k in order], [labels[k] for k in order], loc="outside upper right", ncol=3, frameon=False)
    note = f"{left_out} more rows not shown" if left_out > 0 else ""
    sup = "  ".join(s for s in (title, f"({note})" if note else "") if s)
    if sup:
        fig.suptitle(sup, x=0.01, ha="left")
    save_figure(fig, path)


def plot_history(path: PathLike, history: list[tuple[int, float, str]], *, title: str = "") -> None:
    """Writes a PNG of the best loss (log scale) against the evaluation count, one colour per stage.

    `history` holds (evaluations so far, loss, stage name) tuples; the loss drawn is the running
    minimum within each stage. Non-finite and non-positive losses are skipped.
    """
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    stages = list(dict.fromkeys(stage for _, _, stage in history))
    for k, stage in enumerate(stages):
        pts = sorted((n, loss) for n, loss, s in history if s == stage)
        n = np.array([p[0] for p in pts], dtype=float)
        best = np.fmin.accumulate(np.array([p[1] for p in pts], dtype=float))
        ok = np.isfinite(best) & (best > 0)
        if ok.any():
            ax.step(n[ok], best[ok], where="post", color=f"C{k}", lw=1.5, label=stage)
    if ax.has_data():
        ax.set_yscale("log")
        ax.legend(frameon=False)
    else:
        ax.text(0.5, 0.5, "no finite positive losses", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("evaluations")
    ax.set_ylabel("best loss")
    ax.grid(alpha=0.3)
    ax.grid(alpha=0.1, which="minor", axis="y")
    if title:
        ax.set_title(title)
    save_figure(fig, path)
