"""`sysid eval`: score any models on any logs at several horizons, with no Python.

A model under test is an MJCF file (`--model LABEL=robot.xml`: evaluated as it is) or a fit's
output folder (`--fit LABEL=calib/`: its calibrated.xml, with the fitted delay from result.json
and the actuator models of actuators.json in the loop, exactly as the fit simulated them).
Every model replays every log at every horizon through `sysid.validate.horizon_errors`, the
same code `sysid fit --val-log` and `--cv` use, so the numbers agree with the fit's own report.

eval.json (DESIGN.md contract, fields may be added):
    {"models": {LABEL: {"rmse": {HORIZON: {SIGNAL: value}}, "per_log": {LOG: {HORIZON: {SIGNAL: value}}},
                        "score": {HORIZON: value}, "source": path}},
     "horizons": [...], "logs": [...], "best": {HORIZON: LABEL}, "reference": LABEL,
     "worse_than_reference": [{"model", "than", "log", "horizon", "score", "reference_score"} or, worse
     on one signal, {"model", "than", "log", "horizon", "signal", "rmse", "reference_rmse"}],
     "fits_beaten": [the same, for every fit folder against every plain model], ...}
"score" is the root mean square over signals of RMSE / the signal's noise level, one number to
rank models whose signals have different units.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import mujoco
import numpy as np
from matplotlib.figure import Figure

from sysid import io
from sysid.data import Log
from sysid.errors import UserError
from sysid.params import MEASUREMENT_KINDS, ParamSet, parse_params
from sysid.validate import OPEN, horizon_errors, rmse, score, signal_scales
from sysid.version import __version__

if TYPE_CHECKING:
    from sysid.distributed import RayBackend

MAX_TRACE_LOGS = 8  # logs drawn in eval_traces.png (every log is in the tables and eval.json)
MAX_POINTS = 2000  # samples drawn per line (long logs are decimated for the figure only)


@dataclasses.dataclass(frozen=True)
class ModelUnderTest:
    """One model to score.

    Attributes:
      label: its name in tables and eval.json.
      source: the MJCF file or fit folder it came from.
      model: the compiled model (for a fit folder, its calibrated.xml).
      params: parameters applied on top of the model (a fitted `delay`), else empty.
      values: (len(params),) their values.
      loop: actuator models in the loop (a fit with `--actuator`), else None.
      fitted: a fit folder (`--fit`): compared with every plain model in `fits_beaten`.
    """

    label: str
    source: str
    model: mujoco.MjModel
    params: ParamSet
    values: np.ndarray
    loop: object | None = None
    fitted: bool = False

    def __post_init__(self):
        if not self.label or "=" in self.label:
            raise UserError(f"model label {self.label!r}: give a non-empty name without '=' (LABEL=PATH)")
        if np.shape(self.values) != (len(self.params),):
            raise ValueError(f"model {self.label}: values have shape {np.shape(self.values)}, expected ({len(self.params)},)")


def split_label(text: str, *, option: str) -> tuple[str, str]:
    """"ours=calib/" -> ("ours", "calib/"); a bare path is labelled by its file or folder name."""
    label, eq, path = text.partition("=")
    if not eq:
        path = text
        label = pathlib.Path(text.rstrip("/\\")).stem or text
    if not label or not path:
        raise UserError(f"{option} {text!r}: write LABEL=PATH, e.g. {option} nominal=robot.xml")
    return label, path


def model_file(label: str, path: str | os.PathLike) -> ModelUnderTest:
    """An MJCF (or MJB) file evaluated as it is."""
    from sysid.model import load_model

    model = load_model(path)
    return ModelUnderTest(label, str(path), model, ParamSet([]), np.zeros(0))


def fit_folder(label: str, folder: str | os.PathLike) -> ModelUnderTest:
    """A `sysid fit` output folder: calibrated.xml, its fitted delay and its actuator models."""
    from sysid.model import load_model

    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise UserError(f"--fit {label}={folder}: not a folder (give the --out folder of a sysid fit)")
    for name in ("calibrated.xml", "result.json"):
        if not (folder / name).is_file():
            raise UserError(f"--fit {label}={folder}: no {name} in it (give the --out folder of a sysid fit)")
    try:
        result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
        fitted = result["params"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"{folder / 'result.json'}: not a sysid result (no readable 'params')") from None
    model = load_model(folder / "calibrated.xml")
    params, values = ParamSet([]), np.zeros(0)
    delay = fitted.get("delay", {}).get("value") if isinstance(fitted, dict) else None
    if delay is not None:
        # calibrated.xml carries the delay natively for other MuJoCo users; sysid applies it itself
        # (exact for the logged command history before each window), so it is taken out here.
        from sysid.native import strip_delay

        strip_delay(model, float(delay))
        params = parse_params("delay", model, overrides={"delay": {"upper": max(0.1, 2 * float(delay))}})
        values = np.array([float(delay)])
    measured = {name: entry for name, entry in fitted.items() if name.split("@")[0] in MEASUREMENT_KINDS} \
        if isinstance(fitted, dict) else {}
    if measured:  # encoder offsets and sensor gains are not in calibrated.xml: sysid applies them (sysid.measurement)
        items = [*params.names, *measured]
        overrides = {"delay": {"upper": max(0.1, 2 * float(delay))}} if delay is not None else {}
        overrides |= {name: {"initial": float(e["value"]), "lower": min(float(e["lower"]), float(e["value"])),
                             "upper": max(float(e["upper"]), float(e["value"]))} for name, e in measured.items()}
        params = parse_params(",".join(items), model, overrides=overrides)
        values = np.array([float(fitted[name]["value"]) for name in params.names])
    loop = None
    if result.get("actuator_models"):
        loop = _actuators(folder, model, result["actuator_models"])
    return ModelUnderTest(label, str(folder), model, params, values, loop, fitted=True)


def _actuators(folder: pathlib.Path, model: mujoco.MjModel, files: Sequence) -> object:
    """The fit's actuator models from its actuators.json, every number at its fitted value."""
    from sysid.closedloop import load_actuators

    if list(files) != ["actuators.json"]:
        raise UserError(f"{folder / 'result.json'}: actuator_models {files!r}: expected ['actuators.json']")
    return load_actuators(folder / "actuators.json", model)


def evaluate(models: Sequence[ModelUnderTest], logs: Sequence[Log], horizons: Sequence[str], *,
             names: Sequence[str] | None = None, reference: str | None = None, nthread: int | None = None,
             backend: "RayBackend | None" = None) -> dict:
    """Score every model on every log at every horizon; returns eval.json's dict.

    Args:
      models: the models under test; labels must be unique.
      logs: the logs (each must bind to every model: same joint and actuator names).
      horizons: as in `--horizons`: seconds as text ("0.5") or "open".
      names: labels of the logs (default: their sources).
      reference: the label the others are compared with (default: the first model).
      backend: Ray (`sysid.distributed`): each model is scored in a Ray task (the same numbers).
    """
    labels = [m.label for m in models]
    if len(set(labels)) != len(labels):
        raise UserError(f"model labels must be unique, got {labels}")
    reference = labels[0] if reference is None else reference
    if reference not in labels:
        raise UserError(f"--reference {reference!r}: no model has that label; labels: {', '.join(labels)}")
    log_names = list(names) if names is not None else [log.source for log in logs]
    scales = signal_scales(models[0].model, logs)
    out: dict = {"models": {}, "horizons": list(horizons), "logs": log_names, "reference": reference,
                 "noise_levels": scales, "version": __version__}
    def model_errors(m: ModelUnderTest) -> dict:
        return horizon_errors(m.model, m.params, m.values[None], logs, horizons, nthread=nthread, loop=m.loop)

    every = backend.map(model_errors, models) if backend is not None else [model_errors(m) for m in models]
    for m, errors in zip(models, every):
        entry: dict = {"source": m.source, "rmse": {}, "score": {}, "per_log": {name: {} for name in log_names},
                       "per_log_score": {name: {} for name in log_names}}
        for h in horizons:
            entry["rmse"][h] = rmse(errors[h])[0]
            entry["score"][h] = score(entry["rmse"][h], scales)
            for name, e in zip(log_names, errors[h]):
                entry["per_log"][name][h] = rmse([e])[0]
                entry["per_log_score"][name][h] = score(entry["per_log"][name][h], scales)
        out["models"][m.label] = entry
    out["best"] = {h: min(labels, key=lambda k: _nan_last(out["models"][k]["score"][h])) for h in horizons}
    out["worse_than_reference"] = [w for k in labels if k != reference for w in _worse(out, k, reference)]
    # Every fit against every plain model, so one run names each model that predicts better than a fit.
    fitted = [m.label for m in models if m.fitted]
    out["fits_beaten"] = [w for k in fitted for other in labels if other not in fitted for w in _worse(out, k, other)]
    return out


def _worse(report: dict, label: str, than: str) -> list[dict]:
    """Where model `label` predicts a log worse than model `than`, by the pooled score
    {model, than, log, horizon, score, reference_score} or on one signal (a model can win the score
    and lose the angle) {model, than, log, horizon, signal, rmse, reference_rmse}."""
    m, ref, out = report["models"][label], report["models"][than], []
    for name in report["logs"]:
        for h in report["horizons"]:
            other = ref["per_log_score"][name][h]  # a diverged (NaN) model is worse; one that beats a diverged one is not
            if np.isfinite(other) and not m["per_log_score"][name][h] <= other:
                out.append({"model": label, "than": than, "log": name, "horizon": h, "score": m["per_log_score"][name][h],
                            "reference_score": ref["per_log_score"][name][h]})
            for signal, value in m["per_log"][name][h].items():
                other = ref["per_log"][name][h].get(signal, np.nan)
                if np.isfinite(other) and not value <= other:
                    out.append({"model": label, "than": than, "log": name, "horizon": h, "signal": signal, "rmse": value,
                                "reference_rmse": other})
    return out


def beaten_warnings(report: dict) -> list[str]:
    """One warning per (model, better model, log, windowed horizon) of `worse_than_reference` and
    `fits_beaten`, naming the signals it loses on."""
    grouped: dict[tuple, list[str]] = {}
    for w in [*report["worse_than_reference"], *report.get("fits_beaten", [])]:
        if w["horizon"] != OPEN:
            what = (f"{w['signal']} RMSE {w['rmse']:.4g} vs {w['reference_rmse']:.4g}" if "signal" in w
                    else f"score {w['score']:.3g} vs {w['reference_score']:.3g}")
            grouped.setdefault((w["model"], w["than"], w["log"], w["horizon"]), [])
            if what not in grouped[(w["model"], w["than"], w["log"], w["horizon"])]:
                grouped[(w["model"], w["than"], w["log"], w["horizon"])].append(what)
    return [f"{model} predicts {log} worse than {than} over {h} s windows ({'; '.join(whats)})"
            for (model, than, log, h), whats in grouped.items()]


def _nan_last(x: float) -> float:
    return x if np.isfinite(x) else np.inf


def format_table(report: dict) -> str:
    """Model x horizon x signal RMSE, then the per-log scores, as aligned text."""
    labels, horizons = list(report["models"]), report["horizons"]
    signals = list(dict.fromkeys(s for m in report["models"].values() for h in horizons for s in m["rmse"][h]))
    width = max(12, *(len(k) + 2 for k in labels))
    lines = [f"RMSE on {len(report['logs'])} log(s), pooled ('score': RMSE / noise level, RMS over signals; lowest marked *)"]
    head = f"{'model':<{width}}{'horizon':>9}" + "".join(f"{s:>16}" for s in signals) + f"{'score':>11}"
    lines.append(head)
    for k in labels:
        m = report["models"][k]
        for h in horizons:
            star = "*" if report["best"][h] == k else " "
            row = f"{k:<{width}}{h:>9}" + "".join(f"{_fmt(m['rmse'][h].get(s)):>16}" for s in signals)
            lines.append(row + f"{_fmt(m['score'][h]):>10}{star}")
    if len(report["logs"]) > 1:
        lines.append("")
        lines.append("score per log (" + ", ".join(f"{h}" for h in horizons) + "):")
        for name in report["logs"]:
            cells = "; ".join(f"{k} " + " ".join(_fmt(report["models"][k]["per_log_score"][name][h]) for h in horizons) for k in labels)
            lines.append(f"  {os.path.basename(name.rstrip('/'))}: {cells}")
    return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}" if np.isfinite(x) else "diverged"


def eval_files(*, models: Sequence[str] = (), fits: Sequence[str] = (), log_paths: Sequence[str], out: str,
               horizons: Sequence[str], map_path: str | None = None, log_format: str | None = None,
               episode: int | None = None, reference: str | None = None, nthread: int | None = None,
               ray: str | None = None) -> dict:
    """Everything `sysid eval` does, from file names to eval.json, eval_horizons.png and eval_traces.png.
    `ray` ("auto", "local", HOST:PORT): each model is scored as a Ray task (`sysid.distributed`)."""
    from sysid.data import load_log
    from sysid.validate import check_horizons

    if not models and not fits:
        raise UserError("sysid eval: give at least one --model LABEL=robot.xml or --fit LABEL=calib/")
    under_test = [model_file(*split_label(t, option="--model")) for t in models]
    under_test += [fit_folder(*split_label(t, option="--fit")) for t in fits]
    logs = [load_log(path, map_path=map_path, format=log_format, episode=episode) for path in log_paths]
    check_horizons(horizons, logs)
    if ray is None:
        report = evaluate(under_test, logs, horizons, names=list(log_paths), reference=reference, nthread=nthread)
    else:
        from sysid.distributed import ray_session

        with ray_session(ray) as backend:
            report = evaluate(under_test, logs, horizons, names=list(log_paths), reference=reference, nthread=nthread,
                              backend=backend)
    report["command_inputs"] = {"models": list(models), "fits": list(fits), "map": map_path}
    outdir = pathlib.Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    io.write_json(outdir / "eval.json", report)
    plot_horizons(outdir / "eval_horizons.png", report)
    plot_traces(outdir / "eval_traces.png", under_test, logs, names=list(log_paths), nthread=nthread)
    return report


def plot_horizons(path: str | os.PathLike, report: dict) -> None:
    """RMSE against horizon, one panel per signal, one line per model (log scale)."""
    horizons = report["horizons"]
    signals = list(dict.fromkeys(s for m in report["models"].values() for h in horizons for s in m["rmse"][h]))
    fig = Figure(figsize=(4.2 * len(signals), 3.4))
    axes = fig.subplots(1, len(signals), squeeze=False)[0]
    x = np.arange(len(horizons))
    for ax, s in zip(axes, signals):
        for label, m in report["models"].items():
            y = [m["rmse"][h].get(s, np.nan) for h in horizons]
            ax.plot(x, y, marker="o", label=label)
        ax.set_xticks(x, [h if h == OPEN else f"{h} s" for h in horizons])
        ax.set_yscale("log")
        ax.set_xlabel("prediction horizon")
        ax.set_ylabel(f"{s} RMSE")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"sysid eval: {len(report['logs'])} log(s)", fontsize=10)
    fig.tight_layout()
    io.save_figure(fig, path)


def open_loop_traces(m: ModelUnderTest, log: Log, *, nthread: int | None = None) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], str]:
    """Open-loop replay of one log: signal -> (time (M,) s, logged (M,), simulated (M,)), and the unit text."""
    from sysid.loss import ShootingLoss
    from sysid.sim import Simulator
    from sysid.track import bind_log

    sim = Simulator(m.model, m.params, nthread=nthread, loop=m.loop)
    if m.loop is not None:
        m.loop.bind(m.params)
    try:
        track = bind_log(log, m.model)
        loss = ShootingLoss(sim, [track], log.duration * (1 + 1e-9) + m.model.opt.timestep)
        simulated, ok = loss.simulate(m.values[None])
        simulated[~ok[:, loss.windows.entry_window]] = np.nan
    finally:
        sim.close()
    win = loss.windows
    out = {}
    for s, name in enumerate(track.signals):
        mask = win.entry_signal == s
        rows = win.entry_row[mask]
        out[name] = (track.time[rows], win.entry_target[mask], simulated[0][mask])
    return out, dict(zip(track.signals, track.units))


def plot_traces(path: str | os.PathLike, models: Sequence[ModelUnderTest], logs: Sequence[Log], *, names: Sequence[str],
                nthread: int | None = None) -> None:
    """Logged vs open-loop simulated signals of every model, with the commands below, per log."""
    shown = list(zip(names, logs))[:MAX_TRACE_LOGS]
    traces = [[open_loop_traces(m, log, nthread=nthread) for m in models] for _, log in shown]
    signals = list(traces[0][0][0])
    nrow = len(signals) + 1
    fig = Figure(figsize=(5.0 * len(shown), 2.2 * nrow))
    axes = fig.subplots(nrow, len(shown), squeeze=False, sharex="col")
    for c, ((name, log), per_model) in enumerate(zip(shown, traces)):
        for r, s in enumerate(signals):
            ax = axes[r, c]
            t, logged, _ = per_model[0][0][s]
            step = max(1, len(t) // MAX_POINTS)
            ax.plot(t[::step], logged[::step], color="black", linewidth=1.2, label="logged")
            for m, (tr, units) in zip(models, per_model):
                t, _, sim = tr[s]
                ax.plot(t[::step], sim[::step], linewidth=0.9, label=m.label)
            ax.set_ylabel(f"{s} [{units.get(s, '')}]", fontsize=8)
            if r == 0:
                ax.set_title(os.path.basename(str(name).rstrip("/")), fontsize=9)
        ax = axes[-1, c]
        step = max(1, len(log.time) // MAX_POINTS)
        for a, cmd in log.ctrl.items():
            ax.step(log.time[::step], cmd[::step], where="post", linewidth=0.8, label=f"{a}.ctrl")
        ax.set_ylabel("command", fontsize=8)
        ax.set_xlabel("time [s]")
        if log.ctrl:
            ax.legend(fontsize=7)
    axes[0, 0].legend(fontsize=7)
    more = f" (first {len(shown)} of {len(logs)} logs)" if len(logs) > len(shown) else ""
    fig.suptitle(f"open-loop prediction{more}", fontsize=10)
    fig.tight_layout()
    io.save_figure(fig, path)
