"""The policy-handoff bundle: `sysid export calib/ --out bundle/`, loading it back, sampling models.

    bundle/
      calibrated.xml        the calibrated model, copied from the fit's output folder
      randomization.yaml    per-parameter distributions from the fit's standard errors and the spread of the
                            parameters across logs or folds (sysid.randomization)
      actuator_models/      the fit's actuator models (actuators.json, `sysid fit --actuator`), if any
      residual/             residual dynamics (`sysid residual train`, `sysid export --residual`), if any
      manifest.json         how it was made: sysid version, source result.json, model, logs, sha256 of every file

`sample_model(bundle, rng)` draws a model for one episode: a copy of calibrated.xml's MjModel with
drawn values written into its arrays the way a fit writes candidates (`ParamSet.write`), plus the
drawn actuation delay, which the caller applies like `sysid.sim.held_controls`, and the actuator
models / residual as a `sysid.closedloop.StepLoop` run in the step loop as the fit's rollouts run them.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import hashlib
import json
import os
import pathlib
import re
import sys
import warnings
from collections.abc import Mapping
from typing import Any, NamedTuple

import mujoco
import numpy as np

from sysid import io, native
from sysid.closedloop import ClosedLoop, StepLoop, load_actuators, network_folder
from sysid.errors import UserError
from sysid.inputs import load_json
from sysid.model import load_model
from sysid.params import KINDS, PARTS, Param, ParamSet
from sysid.randomization import MIN_WIDTH, Randomization, from_result, load_randomization
from sysid.version import __version__

BUNDLE_FORMAT = "sysid-bundle/1"
ACTUATOR_DIR = "actuator_models"
ACTUATORS_JSON = "actuators.json"
RESIDUAL_DIR = "residual"
RESIDUAL_FILES = ("residual.json", "residual.npz")  # the description and weights (residual.pt is code: not copied)


def export_bundle(calib: str | os.PathLike, out: str | os.PathLike, *, widen: float = 2.0, min_width: float = MIN_WIDTH,
                  residual: str | os.PathLike | None = None, command: str | None = None) -> dict:
    """Write a bundle from a `sysid fit` output folder; returns manifest.json's dict.

    Args:
      calib: the fit's output folder (calibrated.xml, result.json, actuators.json when it had actuator models).
      out: the bundle folder (created; an existing one is replaced as one set, see `sysid.io.output_set`).
      widen: factor on the fit's standard errors for the randomization scales.
      min_width: floor of every scale relative to the fitted value (`sysid.randomization.from_result`).
      residual: a folder written by `sysid residual train` for this fit's calibrated.xml, run in the loop.
      command: recorded in the manifest (default: this process's command line).
    """
    calib, out = pathlib.Path(calib), pathlib.Path(out)
    if not calib.is_dir():
        raise UserError(f"{calib}: no such folder; give the --out folder of `sysid fit`")
    result_path, xml_path = calib / "result.json", calib / "calibrated.xml"
    for path in (result_path, xml_path):
        if not path.is_file():
            raise UserError(f"{path}: not found; run `sysid fit ... --out {calib}` first")
        inside(calib, path.name, where=path)
    if out.resolve() == calib.resolve():
        raise UserError(f"--out {out}: the bundle must go to another folder than the fit's output")
    result = _read_result(result_path)
    model = load_model(xml_path)  # must compile
    native.strip_delay(model, float(result["params"].get("delay", {}).get("value", 0.0)))
    actuators = _actuator_files(calib, result)
    for path in actuators:
        if path.name == ACTUATORS_JSON:  # must build on the calibrated model; registers its parameter kinds
            load_actuators(path, model, randomized=True)
    residual_files = _residual_files(pathlib.Path(residual), model, result) if residual is not None else []
    randomization = from_result(result, widen=widen, min_width=min_width)
    with io.output_set(out, names=BUNDLE_SET) as stage:
        return _write_bundle(stage, calib, result_path, xml_path, result, randomization, actuators, residual_files, widen, command)


BUNDLE_SET = ("calibrated.xml", "randomization.yaml", ACTUATOR_DIR, RESIDUAL_DIR, "manifest.json")
"""The entries of a bundle folder: replaced as one set (`sysid.io.output_set`)."""


def _write_bundle(out: pathlib.Path, calib: pathlib.Path, result_path: pathlib.Path, xml_path: pathlib.Path, result: dict,
                  randomization: Randomization, actuators: list[pathlib.Path], residual: list[pathlib.Path], widen: float,
                  command: str | None) -> dict:
    written = [io.write_bytes(out / "calibrated.xml", xml_path.read_bytes()),
               io.write_text(out / "randomization.yaml", randomization.to_yaml())]
    for source in actuators:
        if source.name == ACTUATORS_JSON:
            written += _write_actuators(out / ACTUATOR_DIR, source, calib)
        else:
            written.append(io.write_bytes(out / ACTUATOR_DIR / source.name, source.read_bytes()))
    for source in residual:
        written.append(io.write_bytes(out / RESIDUAL_DIR / source.name, source.read_bytes()))
    delay = result["params"].get("delay", {}).get("value")
    manifest = {
        "format": BUNDLE_FORMAT,
        "sysid_version": __version__,
        "mujoco_version": mujoco.__version__,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command if command is not None else " ".join(sys.argv),
        "source": {"folder": str(calib.resolve()), "result_json": str(result_path.resolve()), "result_sha256": _sha256(result_path)},
        "fit": {key: result.get(key) for key in ("optimizer", "seed", "version", "loss", "wall_time_s")},
        "model": _file_record(result.get("model")),
        "logs": [_file_record(p) for p in result.get("logs", [])],
        "params": list(result["params"]),
        "delay_s": delay,
        "widen": widen,
        "min_width": randomization.min_width,
        "actuator_models": [f"{ACTUATOR_DIR}/{p.name}" for p in actuators],
        "residual": RESIDUAL_DIR if residual else None,
        "files": {p.relative_to(out).as_posix(): {"sha256": _sha256(p), "bytes": p.stat().st_size} for p in written},
    }
    io.write_json(out / "manifest.json", manifest)  # last: its presence marks a complete bundle
    return manifest


def _write_actuators(folder: pathlib.Path, source: pathlib.Path, calib: pathlib.Path) -> list[pathlib.Path]:
    """actuators.json into the bundle, with every actuator network (`net:FOLDER`) it uses copied beside
    it (`net_TARGET/`) and its path rewritten to that copy, so the bundle runs without the fit's files."""
    meta = load_json(source, what="actuators.json")
    written, used = [], set()
    for m in meta.get("models", []) if isinstance(meta, dict) else []:
        path = m.get("settings", {}).get("path") if isinstance(m, dict) and m.get("model") == "net" else None
        if not isinstance(path, str):
            continue
        net = network_folder(path, source.parent)
        if not net.is_dir():
            raise UserError(f"{source}: actuator network folder {path[:100]!r} of {str(m.get('target'))[:60]!r} not found; "
                            "export from where the fit ran, or train the network again")
        copy = f"net_{re.sub(r'[^A-Za-z0-9_.-]', '_', str(m.get('target')))}"  # a file name, whatever the actuator's name
        while copy in used:
            copy += "_"
        used.add(copy)
        for file in sorted(f for f in net.iterdir() if f.is_file()):
            written.append(io.write_bytes(folder / copy / file.name, file.read_bytes()))
        m["settings"]["path"] = copy  # relative to actuators.json (`sysid.closedloop.load_actuators`)
    written.append(io.write_text(folder / ACTUATORS_JSON, json.dumps(meta, indent=2)))
    return written


def _read_result(path: pathlib.Path) -> dict:
    result = load_json(path, what="result.json")
    params = result.get("params") if isinstance(result, dict) else None
    if not isinstance(params, dict) or not params:
        raise UserError(f"{path}: no 'params' in this result.json; is it the output of `sysid fit`?")
    for name, p in params.items():
        for key in ("value", "lower", "upper"):
            if not isinstance(p, dict) or not isinstance(p.get(key), (int, float)):
                raise UserError(f"{path}: params.{name}.{key} must be a number")
    return result


def _actuator_files(calib: pathlib.Path, result: Mapping[str, Any]) -> list[pathlib.Path]:
    """Files listed in result.json's "actuator_models" (paths relative to the fit folder, or {"file": path});
    every one must be a file inside the fit folder (a UserError otherwise)."""
    where = calib / "result.json"
    entries = result.get("actuator_models") or []
    if not isinstance(entries, list):
        raise UserError(f"{where}: actuator_models must be a list of file names in the fit folder")
    files = []
    for entry in entries:
        name = entry.get("file") if isinstance(entry, dict) else entry
        if not isinstance(name, str):
            raise UserError(f"{where}: actuator_models entries must be file names in the fit folder, got {str(name)[:60]!r}")
        path = inside(calib, name, where=where)
        if not path.is_file():
            raise UserError(f"{where}: actuator model file {name[:100]!r} not found in {calib}")
        files.append(path)
    if len({p.name for p in files}) < len(files):
        raise UserError(f"{where}: actuator_models lists two files of the same name; the bundle keeps one folder of them")
    return files


def _residual_files(folder: pathlib.Path, model: mujoco.MjModel, result: Mapping[str, Any]) -> list[pathlib.Path]:
    """residual.json and residual.npz of `sysid export --residual FOLDER`, after checking that the
    ensemble loads on the calibrated model (delay stripped) and was trained with the fit's delay."""
    from sysid.extras import require

    require("torch", extra="torch", feature="a bundle with residual dynamics")
    from actuator_models.residual import load_residual

    files = [folder / name for name in RESIDUAL_FILES]
    for path in files:
        if not path.is_file():
            raise UserError(f"--residual {folder}: no {path.name} in it (give the --out folder of `sysid residual train`)")
    load_residual(folder, model)
    meta = load_json(files[0], what="residual model description")
    trained, fitted = meta.get("delay"), float(result["params"].get("delay", {}).get("value", 0.0))
    if not isinstance(trained, (int, float)) or abs(float(trained) - fitted) > 1e-9:
        raise UserError(f"{files[0]}: trained with an actuation delay of {trained} s, the fit's is {fitted:g} s; "
                        "train it again with `sysid residual train --result` naming this fit's result.json")
    if result.get("actuator_models"):
        raise UserError(f"--residual {folder}: the fit ran actuator models in the loop; residual dynamics are trained "
                        "for fits without them (`sysid residual train`)")
    return files


def inside(root: pathlib.Path, name: str, *, where: str | os.PathLike) -> pathlib.Path:
    """`root / name` when it resolves (symbolic links followed) inside `root`; a UserError naming
    `where` otherwise: a fit folder or bundle names only files inside itself, so a crafted one
    cannot make sysid read (or copy into a bundle) any other file."""
    path = root / name
    if os.path.isabs(name) or not path.resolve().is_relative_to(root.resolve()):
        raise UserError(f"{where}: the path {name[:100]!r} lies outside {root}; refused (a fit folder or bundle names "
                        "only files inside itself)")
    return path


def _sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_record(path: str | None) -> dict:
    """{"path", "sha256"} of a source file; sha256 is None when the file is no longer there."""
    exists = path is not None and os.path.isfile(path)
    return {"path": path, "sha256": _sha256(path) if exists else None}


@dataclasses.dataclass(frozen=True)
class Bundle:
    """A loaded bundle (or a bare model: nothing randomized, no delay).

    Attributes:
      root: the bundle folder (None for a bare model file).
      model_path: the model file.
      model: its compiled MjModel (never modified; `sample_model` copies it).
      randomization: the distributions (None for a bare model).
      params: the randomized parameters written into the MjModel (not the delay, not the actuator
        models' numbers), for `ParamSet.write`.
      actuator_models: actuator model files listed in the manifest.
      residual: the residual dynamics folder, or None.
    """

    root: pathlib.Path | None
    model_path: pathlib.Path
    model: mujoco.MjModel
    randomization: Randomization | None
    params: ParamSet
    actuator_models: tuple[pathlib.Path, ...] = ()
    residual: pathlib.Path | None = None

    @property
    def actuators_json(self) -> pathlib.Path | None:
        """The fit's actuators.json among `actuator_models`, or None."""
        return next((p for p in self.actuator_models if p.name == ACTUATORS_JSON), None)

    def step_loop(self, model: mujoco.MjModel, *, residual: Any = None) -> StepLoop | None:
        """The actuator models and residual dynamics for one MjData stepped by the caller (None when
        the bundle has neither): `model` is a copy of `self.model` (its replaced actuators are switched
        off). `residual` (an object with `compute`, see `sysid.closedloop.ClosedLoop`) replaces the bundle's."""
        if residual is None and self.residual is not None:
            from sysid.extras import require

            require("torch", extra="torch", feature=f"{self.root}: a bundle with residual dynamics")
            from actuator_models.residual import load_residual

            residual = load_residual(self.residual, model)
        if self.actuators_json is None and residual is None:
            return None
        loop = (load_actuators(self.actuators_json, model, randomized=True, within=self.actuators_json.parent)
                if self.actuators_json else ClosedLoop(model, []))
        loop.residual = residual
        return StepLoop(loop, model)

    @property
    def delay(self) -> float:
        """s, the calibrated actuation delay (0 when the fit had none)."""
        dist = self.randomization.params.get("delay") if self.randomization else None
        return dist.centre if dist else 0.0

    def draw(self, rng: np.random.Generator | None) -> dict[str, float]:
        """name -> value: one draw (rng given) or the calibrated centres (rng None)."""
        if self.randomization is None:
            return {}
        return self.randomization.centres if rng is None else self.randomization.sample(rng)

    def write(self, model: mujoco.MjModel, values: Mapping[str, float], data: mujoco.MjData) -> float:
        """Write `values` (from `draw`) into a copy of `self.model` in place; return the delay (s)."""
        if len(self.params):
            self.params.write(model, np.array([values[p.name] for p in self.params]), data)
        return float(values.get("delay", 0.0))


class SampledModel(NamedTuple):
    """One episode's model: the MjModel, the actuation delay (s), every drawn value by name, and the
    actuator models / residual dynamics to run in the step loop (None when the bundle has none):
    call `loop.before_step(data, ctrl)` before every `mj_step` (see `sysid.closedloop.StepLoop`)."""

    model: mujoco.MjModel
    delay: float
    values: dict[str, float]
    loop: StepLoop | None = None


def load_bundle(source: str | os.PathLike | Bundle) -> Bundle:
    """Load a bundle folder (from `sysid export`) or a bare MJCF / MJB file."""
    if isinstance(source, Bundle):
        return source
    path = pathlib.Path(source)
    if path.is_file():
        return Bundle(None, path, load_model(path), None, ParamSet([]))
    if not (path / "randomization.yaml").is_file():
        raise UserError(f"{path}: not a bundle folder (no randomization.yaml) nor a model file; make one with `sysid export`")
    manifest = _verified_manifest(path)
    inside(path, "randomization.yaml", where=path / "randomization.yaml")
    randomization = load_randomization(path / "randomization.yaml")
    model_path = inside(path, randomization.model, where=path / "randomization.yaml")
    if manifest is not None and randomization.model not in manifest["files"]:
        raise UserError(f"{path / 'manifest.json'}: does not list the model {randomization.model[:100]!r}; export the bundle again")
    model = load_model(model_path)
    if "delay" in randomization.params:
        # calibrated.xml carries the fitted delay natively (sysid.native); the bundle draws it and the
        # caller applies it (held_controls), so the model keeps only the actuators' own delays.
        native.strip_delay(model, randomization.params["delay"].centre)
    actuators: tuple[pathlib.Path, ...] = ()
    residual = None
    if manifest is not None:
        listed = manifest.get("actuator_models") or []
        if not isinstance(listed, list) or not all(isinstance(p, str) for p in listed):
            raise UserError(f"{path / 'manifest.json'}: actuator_models must be a list of file names in the bundle")
        actuators = tuple(inside(path, p, where=path / "manifest.json") for p in listed)
        if manifest.get("residual") is not None:
            residual = inside(path, str(manifest["residual"]), where=path / "manifest.json")
    foreign = [p.name for p in actuators if p.name != ACTUATORS_JSON]
    if foreign:
        warnings.warn(f"{path}: the bundle lists actuator models {foreign} that are not a sysid actuators.json; sysid.envs "
                      "does not run them (pass actuator=... to make_env)", stacklevel=2)
    bundle = Bundle(path, model_path, model, randomization, ParamSet([]), actuators, residual)
    loop = bundle.step_loop(copy.copy(model))  # fails early on a broken one; names the actuator models' numbers
    in_loop = set(loop.names) if loop is not None else set()
    if loop is not None and any(b.per_log for b in loop.loop.bindings):
        warnings.warn(f"{path}: the actuator models have per-log settings (per_log); episodes use the settings of "
                      "actuators.json (edit them there to choose, e.g., a firmware gain)", stacklevel=2)
    params = ParamSet([_param(name, d.centre, d.lower, d.upper, model, path / "randomization.yaml")
                       for name, d in randomization.params.items() if name != "delay" and name not in in_loop], model=model)
    return dataclasses.replace(bundle, params=params)


def _verified_manifest(path: pathlib.Path) -> dict | None:
    """manifest.json of a bundle folder (None when there is none) after checking that every file it
    lists lies inside the folder and has the recorded sha256: a changed or damaged bundle is refused."""
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        return None
    inside(path, "manifest.json", where=manifest_path)
    manifest = load_json(manifest_path, what="manifest.json")
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(isinstance(r, dict) and isinstance(r.get("sha256"), str) for r in files.values()):
        raise UserError(f"{manifest_path}: no 'files' record ({{name: {{sha256, bytes}}}}); export the bundle again")
    for name, record in files.items():
        file = inside(path, name, where=manifest_path)
        if not file.is_file():
            raise UserError(f"{file}: listed in manifest.json but missing; export the bundle again")
        if _sha256(file) != record["sha256"]:
            raise UserError(f"{file}: sha256 differs from manifest.json (changed after `sysid export`); refused, export the bundle again")
    for required in ("calibrated.xml", "randomization.yaml"):
        if required not in files:
            raise UserError(f"{manifest_path}: does not list {required}; export the bundle again")
    return manifest


def _param(name: str, centre: float, lower: float, upper: float, model: mujoco.MjModel, source: pathlib.Path) -> Param:
    """The `Param` that `ParamSet.write` needs for a canonical name (KIND@TARGET[.axis])."""
    if name.startswith("spec:"):  # spec:ELEMENT/NAME/ATTRIBUTE[INDEX] (sysid.specfield), recompiled when written
        index = int(name.rpartition("[")[2].rstrip("]")) if name.endswith("]") else 0
        return Param(name, "spec", name[len("spec:"):], index, centre, lower, upper, "linear")
    kind, _, target = name.partition("@")
    index = 0
    stem, _, suffix = target.rpartition(".")
    if stem and suffix in PARTS.get(kind, ()):  # com@BODY.x, forcerange@A.lo
        target, index = stem, PARTS[kind].index(suffix) + (kind in native.RANGE_KINDS)
    element = KINDS[kind].element if kind in KINDS else None
    try:
        if element is None or kind == "delay" or (kind in ("com", "inertial") and target == name.partition("@")[2]):
            raise KeyError(name)
        if element != "global":
            getattr(model, element)(target)
    except KeyError:
        raise UserError(f"{source}: parameter {name!r} names no {element or 'known kind'} of the bundle's model") from None
    return Param(name, kind, target, index, centre, lower, upper, "linear")


def sample_model(bundle: Bundle | str | os.PathLike, rng: np.random.Generator | None = None) -> SampledModel:
    """Draw one episode's model from a bundle, for trainers that run their own loop.

    Args:
      bundle: a `Bundle` or a path for `load_bundle`.
      rng: draws from randomization.yaml; None gives the calibrated centres.
    Returns:
      A fresh MjModel with the values written in (derived constants refreshed), the delay in s
      (apply it with `sysid.sim.held_controls`), the drawn values by name, and the actuator models /
      residual dynamics to call before every model step (reset with the drawn values), or None.
    """
    bundle = load_bundle(bundle)
    model = copy.copy(bundle.model)
    values = bundle.draw(rng)
    delay = bundle.write(model, values, mujoco.MjData(model))
    loop = bundle.step_loop(model)
    if loop is not None:
        loop.reset(values)
    return SampledModel(model, delay, values, loop)
