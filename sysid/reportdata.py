"""report_data.json: what report.html draws, taken from a fit, and open-loop predictions of further logs.

`report_data` runs when a fit ends (`sysid.export.write_outputs`): per log the logged, initial and
fitted signals over the fit's windows and the commands, decimated to MAX_POINTS samples per line, and
per signal the residual autocorrelation and histogram in noise units. `held_out_predictions` replays
a fit's held-out data open loop (`--val`, `--val-log`, each `--cv` fold with its own fit) for its
"heldout" entry; `predict_logs` replays further logs with a fit folder's model for `sysid report --log`.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Sequence
from typing import Any

import mujoco
import numpy as np

from sysid import io

DATA_FILE = "report_data.json"
MAX_POINTS = 600  # samples kept per line in report_data.json (long logs are decimated)
MAX_LAGS = 40  # autocorrelation lags kept per signal
HIST_EDGES = np.linspace(-5.0, 5.0, 41)  # residual histogram bins, in noise standard deviations


def report_data(result: Any, model: mujoco.MjModel) -> dict:
    """report_data.json's dict from a FitResult: per log the logged, initial and fitted signals over
    the polish windows and the commands (decimated to MAX_POINTS), and per signal the residual
    autocorrelation and histogram in noise units (residual / the signal's noise level)."""
    win = result.windows
    names = [model.actuator(a).name for a in range(model.nu)]
    logs, pooled = [], {}
    for t, track in enumerate(result.tracks):
        entry: dict = {"name": os.path.basename(track.source), "signals": {}}
        for s, signal in enumerate(track.signals):
            mask = (win.entry_track == t) & (win.entry_signal == s)
            order = np.argsort(win.entry_row[mask], kind="stable")
            rows, window = win.entry_row[mask][order], win.entry_window[mask][order]
            logged = win.entry_target[mask][order]
            before, after = result.simulated[0][mask][order], result.simulated[1][mask][order]
            keep = _stride(len(rows))
            entry["signals"][signal] = {"unit": track.units[s], "sigma": float(track.sigma[s]), "time": track.time[rows][keep],
                                        "window": window[keep], "logged": logged[keep], "before": before[keep],
                                        "after": after[keep]}
            dt = float(np.median(np.diff(track.time))) if len(track.time) > 1 else 0.0
            acc = pooled.setdefault(signal, {"unit": track.units[s], "segments": [], "dt": dt})
            r = (after - logged) / track.sigma[s]
            acc["segments"] += [r[window == w] for w in np.unique(window)]
        keep = _stride(len(track.time))
        entry["command_time"] = track.time[keep]
        entry["commands"] = {names[a]: track.ctrl[keep, a] for a in range(model.nu) if np.any(track.ctrl[:, a] != 0)}
        logs.append(entry)
    residuals = {signal: residual_stats(acc["segments"], acc["dt"]) | {"unit": acc["unit"]} for signal, acc in pooled.items()}
    return {"horizon_s": float(result.horizon), "logs": logs, "residuals": residuals}


def compact(obj: Any) -> Any:
    """Plain JSON data with arrays as lists of floats rounded to 5 significant digits (NaN: None)."""
    if isinstance(obj, dict):
        return {k: compact(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray) and obj.dtype.kind == "f":
        return [float(f"{v:.5g}") if np.isfinite(v) else None for v in obj.tolist()]
    return io.to_jsonable(obj)


def _stride(n: int) -> slice:
    return slice(None, None, max(1, -(-n // MAX_POINTS)))


def residual_stats(segments: Sequence[np.ndarray], dt: float) -> dict:
    """Autocorrelation (pooled over windows, lags 0..MAX_LAGS) and histogram of normalised residuals."""
    segs = [s[np.isfinite(s)] for s in segments]
    flat = np.concatenate(segs) if segs else np.zeros(0)
    if flat.size < 2:
        return {"n": int(flat.size), "rms": None, "acf": [], "lag_s": dt, "hist_counts": [], "hist_edges": []}
    mean = flat.mean()
    longest = max(len(s) for s in segs)
    step = max(1, (longest // 2) // MAX_LAGS)  # lags up to half the longest window
    lags = np.arange(0, max(longest // 2, 2), step)[: MAX_LAGS + 1]
    num = np.zeros(len(lags))
    for s in segs:
        x = s - mean
        for i, k in enumerate(lags[lags < len(x)]):
            num[i] += float(x[: len(x) - k] @ x[k:])
    acf = num / num[0] if num[0] > 0 else num
    counts, _ = np.histogram(np.clip(flat, HIST_EDGES[0], HIST_EDGES[-1]), bins=HIST_EDGES)
    return {"n": int(flat.size), "rms": float(np.sqrt(np.mean(flat**2))), "acf": acf, "lag_s": dt * step,
            "hist_counts": counts, "hist_edges": HIST_EDGES}



def predict_logs(folder: str | os.PathLike, log_paths: Sequence[str], *, map_path: str | None = None,
                 nthread: int | None = None) -> list[dict]:
    """Open-loop predictions of each log by the fitted model of `folder` (and the initial model, when
    result.json's model file is there): [{"name", "held_out", "signals": {signal: {unit, time, logged,
    fitted, initial}}, "command_time", "commands"}]."""
    from sysid.data import load_log
    from sysid.evaluate import fit_folder, model_file

    fitted = fit_folder("fitted", folder)
    summary = json.loads((pathlib.Path(folder) / "result.json").read_text(encoding="utf-8"))
    initial = model_file("initial", summary["model"]) if pathlib.Path(summary.get("model", "")).is_file() else None
    trained = {os.path.basename(p) for p in summary.get("logs", [])}
    return [_prediction(fitted, initial, load_log(path, map_path=map_path), os.path.basename(path),
                        held_out=os.path.basename(path) not in trained, nthread=nthread) for path in log_paths]


def held_out_predictions(model: mujoco.MjModel, result: Any, loop: Any, logs: Sequence[Any], names: Sequence[str], *,
                         fold: int | None = None, nthread: int | None = None) -> list[dict]:
    """Open-loop predictions of held-out logs by a fit's fitted and initial values, as `predict_logs`
    gives them (with "fold": the cross-validation fold whose fit predicts, when given)."""
    from sysid.evaluate import ModelUnderTest

    fitted = ModelUnderTest("fitted", "fit", model, result.params, np.asarray(result.values, float), loop)
    initial = ModelUnderTest("initial", "fit", model, result.params, result.params.initial, loop)
    extra = {} if fold is None else {"fold": fold}
    return [_prediction(fitted, initial, log, os.path.basename(name), held_out=True, nthread=nthread) | extra
            for log, name in zip(logs, names)]


def _prediction(fitted: Any, initial: Any, log: Any, name: str, *, held_out: bool, nthread: int | None) -> dict:
    """{"name", "held_out", "signals": {signal: {unit, time, logged, fitted, initial}}, "command_time", "commands"}:
    one log replayed open loop by two `ModelUnderTest`s (initial may be None), decimated to MAX_POINTS."""
    from sysid.evaluate import open_loop_traces

    traces, units = open_loop_traces(fitted, log, nthread=nthread)
    before = open_loop_traces(initial, log, nthread=nthread)[0] if initial is not None else {}
    keep = _stride(len(log.time))
    signals = {}
    for s, (t, logged, sim) in traces.items():
        k = _stride(len(t))
        signals[s] = {"unit": units.get(s, ""), "time": t[k], "logged": logged[k], "fitted": sim[k],
                      "initial": before[s][2][k] if s in before else None}
    return {"name": name, "held_out": held_out, "signals": signals, "command_time": log.time[keep],
            "commands": {a: c[keep] for a, c in log.ctrl.items()}}
