"""Fit outputs: calibrated MJCF, result.json (DESIGN.md contract) and figures, written atomically."""

from __future__ import annotations

import copy
import os
import pathlib
import sys
import warnings
from collections.abc import Sequence

import mujoco
import numpy as np

from sysid import io, mjcf, report
from sysid.fit import FitConfig, FitResult
from sysid.params import KINDS
from sysid.version import __version__


def calibrated_xml(model_path: str | os.PathLike, model: mujoco.MjModel, result: FitResult, *, provenance: str) -> str:
    """The input MJCF with the fitted values written in, as XML text.

    The user's file is patched in place (`sysid.mjcf`), so every other number keeps its exact
    text; the patched text must compile to the fitted model (every array of MjModel within
    1e-9), else it falls back to MjSpec.to_xml with a warning, since that rounds every number
    to 6 digits. Asset folders become absolute so the file loads from any output folder. The
    fitted delay lives in result.json (sysid's simulator applies it), not in the model.
    """
    expected = copy.copy(model)
    result.params.write(expected, result.values, mujoco.MjData(expected))
    try:
        xml = mjcf.patch_mjcf(model_path, model, result.params, result.values)
        mismatch = _mismatch(_compile(xml), expected, rtol=1e-9)
        if mismatch:
            raise mjcf.PatchError(f"the patched model differs from the fitted one in {mismatch}")
    except mjcf.PatchError as error:
        warnings.warn(f"calibrated.xml: {error}; writing it through MjSpec.to_xml instead, which rounds every number to 6 digits", stacklevel=2)
        spec = mujoco.MjSpec.from_file(str(model_path))
        base = pathlib.Path(model_path).resolve().parent
        for attr in mjcf.ASSET_DIRS[:2]:
            folder = getattr(spec, attr) or ""
            if not os.path.isabs(folder):
                setattr(spec, attr, str(base / folder))
        result.params.write_spec(spec, model, result.values)
        xml = spec.to_xml()
        mismatch = _mismatch(_compile(xml), expected, rtol=1e-5, atol=1e-6)
        if mismatch:
            raise RuntimeError(f"export bug: the calibrated model differs from the fitted model in {mismatch}")
    return f"<!-- {provenance} -->\n{xml}"


def _compile(xml: str) -> mujoco.MjModel:
    try:
        return mujoco.MjModel.from_xml_string(xml)
    except ValueError as error:
        raise mjcf.PatchError(f"the patched model does not compile: {error}") from None


def _mismatch(a: mujoco.MjModel, b: mujoco.MjModel, *, rtol: float, atol: float = 1e-12) -> list[str]:
    """Names of the numeric MjModel arrays that differ between a and b."""
    names = []
    for name in dir(b):
        value = getattr(b, name, None)
        if name.startswith("_") or not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
            continue
        other = getattr(a, name)
        if other.shape != value.shape or not np.allclose(other, value, rtol=rtol, atol=atol, equal_nan=True):
            names.append(name)
    return names


def result_dict(result: FitResult, *, model_path: str, log_paths: Sequence[str], config: FitConfig, command: str | None = None) -> dict:
    """result.json as a dict: the DESIGN.md fields first, then sysid's additions."""
    unc = result.uncertainty
    params = {}
    for i, p in enumerate(result.params):
        params[p.name] = {
            "value": result.values[i], "initial": p.initial, "lower": p.lower, "upper": p.upper,
            "std": unc.std[i], "ci95": list(unc.ci95[i]), "unit": KINDS[p.kind].unit,
            "identifiable": bool(unc.identifiable[i]) if len(unc.identifiable) else True,
        }
    return {
        "params": params,
        "loss": {"initial": result.loss_initial, "final": result.loss_final},
        "rmse": result.rmse_final,
        "optimizer": result.optimizer,
        "evaluations": result.evaluations,
        "sim_steps": result.sim_steps,
        "wall_time_s": result.wall_time_s,
        "model": str(model_path),
        "logs": [str(p) for p in log_paths],
        "seed": config.seed,
        "version": __version__,
        "rmse_initial": result.rmse_initial,
        "rmse_horizon_s": result.horizon,
        "correlation": {"names": result.params.names, "matrix": unc.correlation},
        "identifiability_warnings": list(unc.problems),
        "optimizer_reason": result.optimizer_reason,
        "gradient_steps": result.gradient_steps,
        "residual_scale": unc.residual_scale,
        "rollout_time_s": result.rollout_time_s,
        "interrupted": result.interrupted,
        "stages": result.stages,
        "starts": [{"seed": seed, "loss": loss} for seed, loss in result.starts],
        "config": {"horizons": list(config.horizons), "max_windows": config.max_windows, "optimizer": config.optimizer,
                   "optimizer_options": config.optimizer_options, "refine_states": config.refine_states,
                   "priors": config.priors, "starts": config.starts},
        "command": command if command is not None else " ".join(sys.argv),
        "mujoco_version": mujoco.__version__,
    }


def fit_traces(result: FitResult) -> list[report.Trace]:
    """Logged vs simulated (before / after) signals over the polish windows, one trace per log and signal."""
    win = result.windows
    traces = []
    for t, track in enumerate(result.tracks):
        for s, signal in enumerate(track.signals):
            mask = (win.entry_track == t) & (win.entry_signal == s)
            order = np.argsort(win.entry_row[mask], kind="stable")
            rows = win.entry_row[mask][order]
            traces.append(report.Trace(
                log_name=os.path.basename(track.source), signal=signal, time=track.time[rows],
                logged=win.entry_target[mask][order], before=result.simulated[0][mask][order],
                after=result.simulated[1][mask][order], unit=track.units[s],
            ))
    return traces


def write_outputs(out: str | os.PathLike, *, model_path: str, model: mujoco.MjModel, log_paths: Sequence[str],
                  result: FitResult, config: FitConfig, command: str | None = None, extra: dict | None = None) -> dict:
    """Write calibrated.xml, result.json, fit.png and convergence.png into `out`; return result.json's dict.

    `extra` adds top-level keys to result.json (e.g. `validation`, `delay_estimate`).
    """
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = result_dict(result, model_path=model_path, log_paths=log_paths, config=config, command=command)
    summary.update(extra or {})
    provenance = (f"calibrated by sysid {__version__} from {model_path} with logs {', '.join(map(str, log_paths))}; "
                  f"params {', '.join(result.params.names)}; optimizer {result.optimizer}; seed {config.seed}")
    io.write_text(out / "calibrated.xml", calibrated_xml(model_path, model, result, provenance=provenance))
    io.write_json(out / "result.json", summary)
    title = f"{os.path.basename(str(model_path))}: {result.horizon:g} s windows, sysid {__version__}"
    report.plot_fit(out / "fit.png", fit_traces(result), title=title)
    if result.history:
        report.plot_history(out / "convergence.png", result.history)
    from sysid.htmlreport import report_data, write_report

    write_report(out, summary, data=report_data(result, model))  # report.html (and its data, report_data.json)
    return summary
