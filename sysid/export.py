"""Fit outputs: calibrated MJCF, result.json (DESIGN.md contract) and figures, written atomically."""

from __future__ import annotations

import copy
import os
import pathlib
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import mujoco
import numpy as np

from sysid import io, mjcf, native, report
from sysid.fit import FitConfig, FitResult
from sysid.params import KINDS, ParamSet
from sysid.version import __version__


def calibrated_xml(model_path: str | os.PathLike, model: mujoco.MjModel, result: FitResult, *, provenance: str,
                   conversions: Sequence[native.Conversion] = ()) -> str:
    """The input MJCF with the fitted values written in, as XML text.

    The user's file is patched in place (`sysid.mjcf`), so every other number keeps its exact
    text; the patched text must compile to the fitted model (every array of MjModel within
    1e-9), else it falls back to MjSpec.to_xml with a warning, since that rounds every number
    to 6 digits. Asset folders become absolute so the file loads from any output folder. A
    fitted delay is written as MuJoCo's native actuator delay (`sysid.native`), with a warning
    when it is below one timestep (MuJoCo then applies one whole step). `conversions` (config
    `convert:`) turned actuators into dcmotor / pid ones; `model` is the converted model.
    """
    expected = fitted_model(model_path, model, result.params, result.values, conversions)
    delay = _fitted_delay(result.params, result.values)
    if native.delay_mismatch(model, delay):
        warnings.warn(f"calibrated.xml: {native.delay_mismatch(model, delay)}", stacklevel=2)
    try:
        xml = mjcf.patch_mjcf(model_path, model, result.params, result.values, conversions)
        mismatch = _mismatch(_compile(xml), expected, rtol=1e-9)
        if mismatch:
            raise mjcf.PatchError(f"the patched model differs from the fitted one in {mismatch}")
    except mjcf.PatchError as error:
        warnings.warn(f"calibrated.xml: {error}; writing it through MjSpec.to_xml instead, which rounds every number to 6 digits", stacklevel=2)
        spec = _spec(model_path, conversions)
        result.params.write_spec(spec, model, result.values)
        if delay > 0:
            native.set_spec_delay(spec, model, delay)
        xml = spec.to_xml()
        mismatch = _mismatch(_compile(xml), expected, rtol=1e-5, atol=1e-6)
        if mismatch:
            raise RuntimeError(f"export bug: the calibrated model differs from the fitted model in {mismatch}")
    return f"<!-- {provenance} -->\n{xml}"


def fitted_model(model_path: str | os.PathLike, model: mujoco.MjModel, params: ParamSet, values: np.ndarray,
                 conversions: Sequence[native.Conversion] = ()) -> mujoco.MjModel:
    """The model calibrated.xml compiles to: `model` (compiled from `model_path`, then `conversions`)
    with (n,) `values` written in, a fitted delay as MuJoCo's actuator delay (recompiled: the history
    buffer is new)."""
    delay = _fitted_delay(params, values)
    if delay > 0:
        out = native.with_delay(model, _spec(model_path, conversions), delay)
    else:
        out = copy.copy(model)
    params.write(out, values, mujoco.MjData(out))
    return out


def _spec(model_path: str | os.PathLike, conversions: Sequence[native.Conversion]) -> mujoco.MjSpec:
    """The input's MjSpec (actuators converted) with absolute asset folders."""
    if conversions:
        return mujoco.MjSpec.from_string(mjcf.converted_model(model_path, conversions)[1])
    spec = mujoco.MjSpec.from_file(str(model_path))
    base = pathlib.Path(model_path).resolve().parent
    for attr in mjcf.ASSET_DIRS[:2]:
        folder = getattr(spec, attr) or ""
        if not os.path.isabs(folder):
            setattr(spec, attr, str(base / folder))
    return spec


def _fitted_delay(params: ParamSet, values: np.ndarray) -> float:
    return 0.0 if params.delay_index is None else float(values[params.delay_index])


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
        if result.robust_std is not None:  # beside the Jacobian's: admits correlated residuals (sysid.inverse.intervals)
            params[p.name]["robust_std"] = float(result.robust_std[i])
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
        "combinations": [c.as_dict() for c in unc.combinations],  # best-determined first (sysid.uncertainty)
        "optimizer_reason": result.optimizer_reason,
        "gradient_steps": result.gradient_steps,
        "residual_scale": unc.residual_scale,
        "rollout_time_s": result.rollout_time_s,
        "interrupted": result.interrupted,
        "stages": result.stages,
        "starts": [{"seed": seed, "loss": loss} for seed, loss in result.starts],
        "config": {"horizons": list(config.horizons), "max_windows": config.max_windows, "optimizer": config.optimizer,
                   "optimizer_options": config.optimizer_options, "refine_states": config.refine_states,
                   "priors": config.priors, "starts": config.starts, "loss": config.loss},
        "command": command if command is not None else " ".join(sys.argv),
        "mujoco_version": mujoco.__version__,
    }


def fit_traces(result: FitResult, *, limit: int | None = None) -> list[report.Trace]:
    """Logged vs simulated (before / after) signals over the polish windows, one trace per log and signal
    (the first `limit` of them), each decimated to at most `report.MAX_POINTS` points."""
    win = result.windows
    traces = []
    track_bounds = np.searchsorted(win.entry_track, np.arange(len(result.tracks) + 1))  # entries come track by track
    for t, track in enumerate(result.tracks):
        mine = slice(track_bounds[t], track_bounds[t + 1])
        for s, signal in enumerate(track.signals):
            if limit is not None and len(traces) >= limit:
                return traces
            index = mine.start + np.flatnonzero(win.entry_signal[mine] == s)
            index = index[np.argsort(win.entry_row[index], kind="stable")]
            index = index[:: -(-len(index) // report.MAX_POINTS) or 1]
            traces.append(report.Trace(
                log_name=os.path.basename(track.source), signal=signal, time=track.time[win.entry_row[index]],
                logged=win.entry_target[index], before=result.simulated[0][index], after=result.simulated[1][index],
                unit=track.units[s],
            ))
    return traces


OUTPUT_SET = ("calibrated.xml", "result.json", "fit.png", "convergence.png", "actuators.json", "report.html", "report_data.json")
"""The files of a fit's output set: an old one of these names not in the new set is dropped."""


def write_outputs(out: str | os.PathLike, *, model_path: str, model: mujoco.MjModel, log_paths: Sequence[str],
                  result: FitResult, config: FitConfig, command: str | None = None, extra: dict | None = None,
                  files: Mapping[str, Any] | None = None, conversions: Sequence[native.Conversion] = (),
                  heldout: Sequence[dict] = ()) -> dict:
    """Write calibrated.xml, result.json, fit.png and convergence.png into `out` as one set
    (`sysid.io.output_set`: the folder holds the complete old set or the complete new one);
    return result.json's dict.

    `extra` adds top-level keys to result.json (e.g. `validation`, `delay_estimate`); `files` adds
    JSON files to the set by name (e.g. {"actuators.json": ...}; names from `OUTPUT_SET`); `heldout`
    (`sysid.reportdata.held_out_predictions`) goes into report_data.json for report.html's held-out plots.
    """
    summary = result_dict(result, model_path=model_path, log_paths=log_paths, config=config, command=command)
    summary.update(extra or {})
    if conversions:  # actuators the config turned into MuJoCo dcmotor / pid ones (calibrated.xml states them so)
        summary["convert"] = {c.actuator: c.as_dict() for c in conversions}
    provenance = (f"calibrated by sysid {__version__} from {model_path} with logs {', '.join(map(str, log_paths))}; "
                  f"params {', '.join(result.params.names)}; optimizer {result.optimizer}; seed {config.seed}")
    xml = calibrated_xml(model_path, model, result, provenance=provenance, conversions=conversions)
    title = f"{os.path.basename(str(model_path))}: {result.horizon:g} s windows, sysid {__version__}"
    rows = sum(len(track.signals) for track in result.tracks)
    with io.output_set(out, names=OUTPUT_SET) as stage:
        io.write_text(stage / "calibrated.xml", xml)
        report.plot_fit(stage / "fit.png", fit_traces(result, limit=report.MAX_ROWS), title=title, hidden=rows - report.MAX_ROWS)
        if result.history:
            report.plot_history(stage / "convergence.png", result.history)
        for name, content in (files or {}).items():
            io.write_json(stage / name, content)
        io.write_json(stage / "result.json", summary)
        from sysid.htmlreport import report_data, write_report

        data = report_data(result, model) | ({"heldout": list(heldout)} if heldout else {})
        write_report(stage, summary, data=data)  # report.html (and its data, report_data.json)
    return summary
