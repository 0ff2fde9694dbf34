"""report.html: one self-contained page per fit (figures inline as PNG, no network, no scripts).

Every fit writes it (`sysid.export.write_outputs`); `sysid report calib/` rebuilds it, optionally
with open-loop predictions of further (held-out) logs and an eval folder's eval.json. The page
reads result.json's dict and report_data.json, a small sidecar of decimated signals and residual
statistics taken from the FitResult when the fit ends (`sysid.reportdata`). Sections, by element id:
summary, parameters, correlation, combinations, fits, heldout, residuals, convergence, crossval,
eval, next.
"""

from __future__ import annotations

import base64
import html
import io as _io
import json
import os
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sysid import io
from sysid.reportdata import DATA_FILE, compact, predict_logs, report_data

__all__ = ["SECTIONS", "next_steps", "predict_logs", "render", "report_data", "verdict", "write_report"]

SECTIONS = ("summary", "parameters", "correlation", "combinations", "fits", "heldout", "residuals", "convergence",
            "crossval", "eval", "next")
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:0 auto;padding:0 14px 40px;color:#222;line-height:1.4}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-top:10px}
img{max-width:100%;height:auto;display:block;margin:8px 0}
.wrap{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;font-size:0.88em;margin:8px 0}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:right;overflow-wrap:anywhere}
td:first-child,th:first-child{text-align:left}
.flag{display:inline-block;border-radius:3px;padding:0 5px;margin:1px;font-size:0.85em;background:#fde2e2;color:#8a1010}
.verdict{font-size:1.15em;padding:8px 12px;border-radius:4px}
.good{background:#e3f4e1}.check{background:#fff4d6}.poor{background:#fde2e2}
code,pre{overflow-wrap:anywhere;white-space:pre-wrap}
"""


# ---------------------------------------------------------------- writing


def write_report(folder: str | os.PathLike, summary: dict, *, data: dict | None = None, eval_report: dict | None = None,
                 predictions: Sequence[dict] = (), out: str | os.PathLike | None = None) -> pathlib.Path:
    """Write `folder`/report.html (or `out`) from result.json's dict and the fit's figures.

    Args:
      data: report_data.json's dict; written into `folder` when given, else read from it if there.
      eval_report: an eval folder's eval.json dict, shown as a table.
      predictions: open-loop predictions of further logs (`predict_logs`).
    """
    folder = pathlib.Path(folder)
    if data is not None:
        data = compact(data)
        io.write_json(folder / DATA_FILE, data)
    elif (folder / DATA_FILE).is_file():
        data = json.loads((folder / DATA_FILE).read_text(encoding="utf-8"))
    predictions = [compact(p) for p in predictions]
    page = render(summary, data=data, eval_report=eval_report, predictions=predictions, folder=folder)
    return io.write_text(pathlib.Path(out) if out is not None else folder / "report.html", page)


def render(summary: dict, *, data: dict | None = None, eval_report: dict | None = None, predictions: Sequence[dict] = (),
           folder: pathlib.Path | None = None) -> str:
    """The report page as HTML text."""
    title = f"sysid fit of {os.path.basename(str(summary.get('model', 'model')))}"
    body = [f"<h1>{_e(title)}</h1>"]
    for section, builder in zip(SECTIONS, (
            _summary, _parameters, _correlation, _combinations, _fits, _heldout, _residuals, _convergence, _crossval,
            _eval, _next)):
        heading, content = builder(summary, data=data, eval_report=eval_report, predictions=predictions, folder=folder)
        body.append(f'<section id="{section}"><h2>{_e(heading)}</h2>\n{content}\n</section>')
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")


# ---------------------------------------------------------------- sections


def verdict(summary: dict) -> tuple[str, str]:
    """("good" | "check" | "poor", one sentence) from the losses, held-out comparisons and flags."""
    loss = summary.get("loss", {})
    worse = _worse(summary)
    if summary.get("interrupted") or not _num(loss.get("final")) < _num(loss.get("initial")):
        return "poor", "the fit did not lower the loss below the initial model's (or was interrupted)"
    if worse:
        return "poor", f"the fit predicts held-out data worse than the initial model in {len(worse)} comparison(s)"
    flags = len(summary.get("at_bound", [])) + sum(not p.get("identifiable", True) for p in summary["params"].values())
    if flags or summary.get("warnings") or _num(summary.get("residual_scale")) > 3:
        return "check", "the fit improved the loss, but see the flags and the list at the end"
    return "good", "the fit lowered the loss and raised no warning"


def _summary(s: dict, **_) -> tuple[str, str]:
    kind, text = verdict(s)
    loss = s.get("loss", {})
    rows = [("model", s.get("model")), ("logs", ", ".join(map(str, s.get("logs", [])))),
            ("loss (initial -> final)", f"{_f(loss.get('initial'))} -> {_f(loss.get('final'))}"),
            ("window", f"{_f(s.get('rmse_horizon_s'))} s"), ("optimizer", s.get("optimizer")),
            ("evaluations / sim steps", f"{s.get('evaluations')} / {s.get('sim_steps')}"),
            ("wall time", f"{_f(s.get('wall_time_s'))} s"), ("residual scale (1 = noise level)", _f(s.get("residual_scale"))),
            ("sysid / mujoco", f"{s.get('version')} / {s.get('mujoco_version', '')}"), ("command", s.get("command", ""))]
    rmse = "".join(f"<tr><td>{_e(k)}</td><td>{_f(s.get('rmse_initial', {}).get(k))}</td><td>{_f(v)}</td></tr>"
                   for k, v in s.get("rmse", {}).items())
    return "Summary and verdict", (
        f'<p class="verdict {kind}" id="verdict"><b>{kind}</b>: {_e(text)}</p>' + _kv(rows)
        + _table(["signal", "RMSE initial", "RMSE fitted"], rmse))


def _parameters(s: dict, **_) -> tuple[str, str]:
    at_bound = set(s.get("at_bound", []))
    spread = (s.get("spread") or {}).get("std") or {}
    rows = ""
    for name, p in s["params"].items():
        flags = ('<span class="flag">at bound</span>' if name in at_bound else "") + (
            "" if p.get("identifiable", True) else '<span class="flag">not identifiable</span>')
        ci = p.get("ci95") or [None, None]
        rows += (f"<tr><td>{_e(name)}</td><td>{_f(p.get('initial'))}</td><td><b>{_f(p.get('value'))}</b></td>"
                 f"<td>{_f(p.get('std'))}</td>{f'<td>{_f(spread.get(name))}</td>' if spread else ''}"
                 f"<td>{_f(ci[0])} .. {_f(ci[1])}</td><td>{_f(p.get('lower'))} .. "
                 f"{_f(p.get('upper'))}</td><td>{_e(p.get('unit', ''))}</td><td>{flags}</td></tr>")
    notes = "".join(f"<li>{_e(t)}</li>" for t in s.get("identifiability_warnings", []))
    header = ["parameter", "initial", "fitted", "std", *(["std across logs"] if spread else []), "95% interval", "bounds", "unit", "flags"]
    note = (f"<p>std across logs: the spread of per-log refits ({len(s['spread'].get('logs', []))} logs), which "
            "<code>sysid export</code> adds to the randomization ranges.</p>") if spread else ""
    return "Parameters", _table(header, rows) + note + (f"<ul>{notes}</ul>" if notes else "")


def _correlation(s: dict, **_) -> tuple[str, str]:
    corr = s.get("correlation") or {}
    names, matrix = corr.get("names", []), np.array(corr.get("matrix", []), dtype=float)
    if len(names) < 2 or matrix.shape != (len(names), len(names)):
        return "Correlation of the estimates", "<p>Fewer than two parameters: no correlations.</p>"
    n = len(names)
    fig = Figure(figsize=(min(2 + 0.45 * n, 9), min(1.6 + 0.4 * n, 8)), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(np.nan_to_num(matrix), vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(n), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    if n <= 12:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.8)
    return "Correlation of the estimates", _img(fig, "correlation heatmap") + (
        "<p>|correlation| above 0.95: the logs cannot tell the two parameters apart.</p>")


def _combinations(s: dict, **_) -> tuple[str, str]:
    combos = s.get("combinations") or s.get("identified_combinations")
    if not combos:
        return "Identified combinations", "<p>result.json lists no identified parameter combinations.</p>"
    items = combos if isinstance(combos, list) else [{"name": k, **(v if isinstance(v, dict) else {"value": v})}
                                                        for k, v in combos.items()]
    if all(isinstance(c, dict) for c in items):
        keys = list(dict.fromkeys(k for c in items for k in c))
        return "Identified combinations", _table(keys, "".join(
            "<tr>" + "".join(f"<td>{_cell(c.get(k))}</td>" for k in keys) + "</tr>" for c in items))
    return "Identified combinations", "<ul>" + "".join(f"<li>{_cell(c)}</li>" for c in items) + "</ul>"


def _fits(s: dict, *, data: dict | None, folder: pathlib.Path | None, **_) -> tuple[str, str]:
    if not data:
        png = folder / "fit.png" if folder is not None else None
        body = _img_file(png, "fit") if png is not None and png.is_file() else "<p>No fit data (report_data.json) found.</p>"
        return "Fit of every log", body
    parts = [f"<p>Logged (black), initial (red, dashed) and fitted (blue) model over the fit's "
             f"{_f(data.get('horizon_s'))} s windows, each started from the logged state; commands below.</p>"]
    for log in data["logs"]:
        series = {name: {"time": sig["time"], "logged": sig["logged"], "initial": sig["before"], "fitted": sig["after"],
                         "unit": sig["unit"], "break": sig.get("window")} for name, sig in log["signals"].items()}
        parts.append(f"<h3>{_e(log['name'])}</h3>" + _img(_signals_fig(series, log), f"fit of {log['name']}"))
    return "Fit of every log", "\n".join(parts)


def _heldout(s: dict, *, data: dict | None, predictions: Sequence[dict], **_) -> tuple[str, str]:
    parts = []
    val = s.get("validation")
    if val:
        table = _by_horizon(val.get("by_horizon", {}), "fitted RMSE", lambda r: _e(_rmse_text(r.get("fitted", {}))))
        parts.append(f"<p>Validation on {_e(', '.join(map(str, val.get('logs', []))))}: score (RMSE in noise units) per "
                     f"horizon.</p>" + table)
    held = (data or {}).get("heldout") or []
    if held:
        parts.append("<p>Held-out data replayed open loop from its first logged state: logged (black), initial (red, dashed) "
                     "and fitted (blue) model; commands below. A cross-validation fold is predicted by the fit of that fold.</p>")
    for p in [*held, *predictions]:
        tag = (f"held out of fold {p['fold']}" if "fold" in p else "held-out data") if p.get("held_out") else "a log the fit used"
        series = {name: {**sig, "break": None} for name, sig in p["signals"].items()}
        parts.append(f"<h3>{_e(p['name'])} ({tag}), open loop</h3>" + _img(_signals_fig(series, p), f"prediction of {p['name']}"))
    if not parts:
        parts.append("<p>No held-out data: fit with <code>--val 0.2</code>, <code>--val-log</code> or <code>--cv K</code>, "
                     "or run <code>sysid report calib/ --log held_out.csv</code> to draw open-loop predictions.</p>")
    return "Held-out prediction", "\n".join(parts)


def _residuals(s: dict, *, data: dict | None, **_) -> tuple[str, str]:
    res = {k: v for k, v in (data or {}).get("residuals", {}).items() if v.get("acf")}
    if not res:
        return "Residual diagnostics", "<p>No residual data (report_data.json) found.</p>"
    shown = list(res)[:12]
    height = 0.6 + 2.0 * len(shown)
    fig = Figure(figsize=(10, height))  # fixed margins: constrained layout would double the drawing time
    fig.subplots_adjust(left=0.07, right=0.98, top=1 - 0.35 / height, bottom=0.45 / height, hspace=0.55, wspace=0.15)
    axes = fig.subplots(len(shown), 2, squeeze=False)
    for (a, b), name in zip(axes, shown):
        r = res[name]
        lag = np.arange(len(r["acf"])) * r["lag_s"]
        a.plot(lag, r["acf"], color="tab:blue", marker=".", lw=1)
        a.axhline(0, color="black", lw=0.6)
        a.set_title(f"{name}: autocorrelation of residuals", fontsize=9, loc="left")
        a.set_xlabel("lag [s]", fontsize=8)
        edges, counts = np.asarray(r["hist_edges"]), np.asarray(r["hist_counts"], dtype=float)
        b.stairs(counts / max(counts.sum(), 1) / np.diff(edges), edges, fill=True, color="tab:blue", alpha=0.6)
        x = np.linspace(edges[0], edges[-1], 200)
        b.plot(x, np.exp(-0.5 * x**2) / np.sqrt(2 * np.pi), color="black", lw=1, label="noise level N(0, 1)")
        b.set_title(f"{name}: residual / noise level, clipped to +-5 (RMS {_f(r['rms'])})", fontsize=9, loc="left")
        b.legend(fontsize=7, frameon=False)
    table = "".join(f"<tr><td>{_e(k)}</td><td>{_f(v['rms'])}</td><td>{_f(_acf_at(v, 0.05))}</td>"
                    f"<td>{v['n']}</td></tr>" for k, v in res.items())
    return "Residual diagnostics", (
        "<p>Residuals (fitted minus logged) divided by each signal's noise level: white noise at the noise level "
        "has RMS 1 and no autocorrelation beyond lag 0; slow, correlated residuals point at unmodelled dynamics.</p>"
        + _img(fig, "residual diagnostics") + _table(["signal", "RMS / noise", "autocorrelation at 0.05 s", "samples"], table))


def _convergence(s: dict, *, folder: pathlib.Path | None, **_) -> tuple[str, str]:
    png = folder / "convergence.png" if folder is not None else None
    fig = _img_file(png, "convergence") if png is not None and png.is_file() else "<p>No convergence.png.</p>"
    stages = "".join(f"<li><code>{_e(t)}</code></li>" for t in s.get("stages", []))
    starts = "".join(f"<tr><td>{st.get('seed')}</td><td>{_f(st.get('loss'))}</td></tr>" for st in s.get("starts", []))
    return "Convergence per stage", fig + f"<ul>{stages}</ul>" + (_table(["start seed", "final loss"], starts) if starts else "")


def _crossval(s: dict, **_) -> tuple[str, str]:
    parts = []
    cv = s.get("cv")
    if cv:
        table = _by_horizon(cv.get("by_horizon", {}), "spread", lambda r: _f(r.get("score_fitted_std")))
        parts.append(f"<p>{cv.get('k')}-fold cross-validation by {_e(cv.get('split', ''))}: held-out score (noise units), "
                     f"mean over folds.</p>" + table)
    st = s.get("structures")
    if st:
        rows = "".join(f"<tr><td>{_e(r.get('name'))}{' (chosen)' if r.get('name') == st.get('chosen') else ''}</td>"
                       f"<td>{_f(r.get('score'))}</td><td>{_f(r.get('score_initial'))}</td></tr>" for r in st.get("ranking", []))
        parts.append(f"<p>Candidate structures ranked by {_e(st.get('by', ''))}.</p>"
                     + _table(["structure", "held-out score", "initial model"], rows))
    if s.get("shrink"):
        parts.append(f"<p>Shrinkage toward the initial model: {_f(s['shrink'].get('chosen'))}"
                     f"{' (chosen automatically)' if s['shrink'].get('auto') else ''}.</p>")
    return "Cross-validation and structures", "\n".join(parts) or (
        "<p>No cross-validation in this fit (<code>sysid fit --cv K</code>, <code>--structures</code>, <code>--shrink auto</code>).</p>")


def _eval(s: dict, *, eval_report: dict | None, **_) -> tuple[str, str]:
    if not eval_report:
        return "Evaluation", "<p>No eval.json given (<code>sysid report calib/ --eval eval/</code> after <code>sysid eval</code>).</p>"
    horizons = eval_report.get("horizons", [])
    rows = "".join(f"<tr><td>{_e(label)}</td>" + "".join(f"<td>{_f(m.get('score', {}).get(h))}</td>" for h in horizons)
                   + "</tr>" for label, m in eval_report.get("models", {}).items())
    logs = ", ".join(map(str, eval_report.get("logs", [])))
    return "Evaluation", (f"<p>sysid eval on {_e(logs)}: score (RMSE in noise units) per horizon; "
                          f"reference {_e(eval_report.get('reference', ''))}.</p>" + _table(["model", *horizons], rows))


def next_steps(summary: dict) -> list[str]:
    """What to do next, from the fit's warnings, parameters at a bound, held-out comparisons and identifiability."""
    todo = [f"Warning: {w}" for w in summary.get("warnings", [])]
    for name in summary.get("at_bound", []):
        todo.append(f"{name} ended at a bound of its search range: widen its bounds in the fit config "
                    f"(params: {{{name}: {{lower: ..., upper: ...}}}}) or check the model's structure.")
    worse = _worse(summary)
    if worse:
        todo.append(f"The fit predicts held-out data worse than the initial model ({len(worse)} comparison(s)): try "
                    f"--shrink auto, fewer parameters, or candidate --structures chosen by held-out error.")
    weak = [n for n, p in summary["params"].items() if not p.get("identifiable", True)]
    if weak:
        todo.append(f"Not identifiable from these logs: {', '.join(weak)}: record more exciting motion (sysid excite), "
                    f"fix them at a known value, or fit fewer parameters.")
    todo += [t for t in summary.get("identifiability_warnings", []) if t not in " ".join(todo)]
    if _num(summary.get("residual_scale")) > 3:
        todo.append(f"Residuals are {_f(summary['residual_scale'])} x the noise level: the model misses something; "
                    f"try actuator models (--actuator), a delay, or residual dynamics.")
    if not any(k in summary for k in ("validation", "cv")):
        todo.append("No held-out check: rerun with --val 0.2, --val-log LOG or --cv K to see how the fit predicts "
                    "data it has not seen.")
    if summary.get("interrupted"):
        todo.append("The fit was interrupted: these are the best values so far; rerun it to the end.")
    if not todo:
        todo.append("Nothing pressing: hand the model to a trainer with sysid export calib/ --out bundle/.")
    return todo


def _next(s: dict, **_) -> tuple[str, str]:
    return "What to do next", "<ol>" + "".join(f"<li>{_e(t)}</li>" for t in next_steps(s)) + "</ol>"


# ---------------------------------------------------------------- helpers


def _signals_fig(series: dict, log: dict) -> Figure:
    """One row per signal (logged, initial, fitted) and a last row with the commands."""
    names = list(series)[:12]
    commands = log.get("commands") or {}
    nrow = len(names) + (1 if commands else 0)
    height = 0.6 + 1.7 * nrow
    fig = Figure(figsize=(10, height))  # fixed margins: constrained layout would double the drawing time
    fig.subplots_adjust(left=0.09, right=0.98, top=1 - 0.25 / height, bottom=0.5 / height, hspace=0.12)
    axes = fig.subplots(nrow, 1, squeeze=False, sharex=True)[:, 0]
    for ax, name in zip(axes, names):
        sig = series[name]
        t = np.asarray(sig["time"], dtype=float)
        for key, style in (("initial", dict(color="tab:red", ls="--", lw=1.0)), ("fitted", dict(color="tab:blue", lw=1.8, alpha=0.7)),
                           ("logged", dict(color="black", lw=0.7))):
            if sig.get(key) is None:
                continue
            y = np.array(sig[key], dtype=float)
            if sig.get("break") is not None:  # a line per window: no line across window starts
                y[1:][np.diff(np.asarray(sig["break"])) != 0] = np.nan
            ax.plot(t, y, label=key, **style)
        ax.set_ylabel(f"{name} [{sig['unit']}]" if sig.get("unit") else name, fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, ncol=3, loc="upper right", frameon=False)
    if commands:
        t = np.asarray(log["command_time"], dtype=float)
        for a, c in commands.items():
            axes[-1].step(t, np.asarray(c, dtype=float), where="post", lw=0.8, label=f"{a}.ctrl")
        axes[-1].set_ylabel("command", fontsize=8)
        axes[-1].legend(fontsize=7, frameon=False)
        axes[-1].grid(alpha=0.3)
    axes[-1].set_xlabel("time [s]")
    return fig


def _acf_at(res: dict, lag_s: float) -> float | None:
    """The residual autocorrelation at the lag nearest `lag_s` seconds."""
    acf = res.get("acf") or []
    if len(acf) < 2 or not res.get("lag_s"):
        return None
    return acf[min(len(acf) - 1, max(1, round(lag_s / res["lag_s"])))]


def _worse(summary: dict) -> list:
    return [*summary.get("validation", {}).get("worse_than_initial", []), *summary.get("cv", {}).get("worse_than_initial", [])]


def _img(fig: Figure, alt: str) -> str:
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return _img_bytes(buf.getvalue(), alt)


def _img_file(path: pathlib.Path, alt: str) -> str:
    return _img_bytes(path.read_bytes(), alt)


def _img_bytes(data: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}">'


def _table(header: Sequence[str], rows: str) -> str:
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>" if header else ""
    return f'<div class="wrap"><table>{head}{rows}</table></div>'


def _by_horizon(by_horizon: dict, last: str, cell) -> str:
    """A table of held-out scores per horizon (initial, fitted) with one more column, `cell(row)`."""
    rows = "".join(f"<tr><td>{_e(h)}</td><td>{_f(r.get('score_initial'))}</td><td>{_f(r.get('score_fitted'))}</td>"
                   f"<td>{cell(r)}</td></tr>" for h, r in by_horizon.items())
    return _table(["horizon [s]", "initial", "fitted", last], rows)


def _kv(rows: Sequence[tuple[str, Any]]) -> str:
    return _table([], "".join(f"<tr><td>{_e(k)}</td><td style='text-align:left'>{_e(v)}</td></tr>" for k, v in rows))


def _rmse_text(rmse: dict) -> str:
    return ", ".join(f"{k} {_f(v)}" for k, v in rmse.items())


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return _f(value)
    return _e(value if isinstance(value, str) else json.dumps(value))


def _num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")


def _f(value: Any) -> str:
    x = _num(value)
    return f"{x:.4g}" if np.isfinite(x) else ("n/a" if value is None else _e(value))


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))
