"""Actuator models and residual dynamics in the loop of batched rollouts.

`mujoco.rollout` runs open loop, so a closed loop calls it once per control step for a batch of
rows (every candidate x window, or every environment): read q, qd from the previous call's final
states, compute each actuator model's torque on (B,) arrays (numpy, or torch on the batch), and
run `decimation` model steps with that torque held as `qfrc_applied` (mjSTATE_QFRC_APPLIED in the
control spec) next to the logged `ctrl`. No Python runs per row or per model step. The rows are
split into lanes, one Python thread per rollout thread, each running its rows' loop as one batch
(`ClosedLoop._rollout`).

An actuator model replaces the force of the MJCF actuator it is bound to: that actuator's `ctrl`
column becomes the model's command, and the actuator itself is switched off in the models rolled
out (its `actuator_group` becomes DISABLED_GROUP, disabled through `opt.disableactuator`).
"""

from __future__ import annotations

import concurrent.futures
import copy
import dataclasses
import fnmatch
import pathlib
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import mujoco
import numpy as np

from sysid.errors import UserError
from sysid.params import Kind, Param, ParamSet, register_kind
from sysid.sim import single_threaded_blas

if TYPE_CHECKING:
    from sysid.sim import Simulator

CONTROL_SPEC = int(mujoco.mjtState.mjSTATE_CTRL | mujoco.mjtState.mjSTATE_QFRC_APPLIED)
DISABLED_GROUP = 30  # actuator group used to switch off the MJCF actuators that models replace
MIN_LANE_ROWS = 8  # rows per lane at least: a batch under 16 rows runs as one lane on the thread pool
SCALAR_JOINTS = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))


@dataclasses.dataclass(frozen=True)
class Binding:
    """One actuator model driving the joint of one MJCF actuator.

    Attributes:
      kind: the model's name for reports and parameter kinds ("dcmotor", "friction", ...).
      target: the name used in parameter names (`kt@TARGET`): the MJCF actuator, or its joint.
      config: the actuator model's config (see `actuator_models.base.ActuatorConfig`).
      fit: names of `config.param_info()` that are fitted (None: `config.default_fit()`).
      per_log: glob over log sources -> settings for the rows replaying those logs, e.g.
        {"*kp100*": {"gain": 100}}; settings are config fields that are not fitted.
      enable: an MJCF actuator whose ctrl gates the torque (> 0.5: on, else 0 N m), or None.
      inputs: setting -> an MJCF actuator whose ctrl carries that setting's logged value, read at
        every control step (e.g. {"vin": "servo_vin"}: the measured supply voltage); the settings
        a model takes this way are its config's `logged_inputs()`.
    """

    kind: str
    target: str
    config: Any
    fit: tuple[str, ...] | None = None
    per_log: Mapping[str, Mapping[str, float]] = dataclasses.field(default_factory=dict)
    enable: str | None = None
    inputs: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def fitted(self) -> tuple[str, ...]:
        return tuple(self.config.default_fit() if self.fit is None else self.fit)


class ClosedLoop:
    """Actuator models (and optionally a residual model) computed once per control step.

    Args:
      model: the compiled input model.
      bindings: actuator models and what they drive.
      control_dt: s between model evaluations, a whole multiple of the timestep (default: a trained
        network's sample period, else the timestep).
      residual: optional generalized-force model with `start(batch)` and
        `compute(qpos (B, nq), qvel (B, nv), ctrl (B, nu)) -> (B, nv)` (see actuator_models.residual).
    """

    def __init__(self, model: mujoco.MjModel, bindings: Sequence[Binding], *, control_dt: float | None = None, residual: Any = None):
        self.bindings = list(bindings)
        self.residual = residual
        self.models = [b.config.build() for b in self.bindings]
        dt = model.opt.timestep
        # Default period: a trained network's sample period, else every model step.
        preferred = [m.sample_dt for m in self.models if hasattr(m, "sample_dt")]
        self.control_dt = float(control_dt) if control_dt is not None else preferred[0] if preferred else dt
        self.decimation = int(round(self.control_dt / dt))
        if self.decimation < 1 or abs(self.decimation * dt - self.control_dt) > 1e-9 * max(1.0, self.control_dt):
            raise UserError(f"actuator control_dt {self.control_dt:g} s is not a whole multiple of the model timestep {dt:g} s")
        self._actuator, self._qpos, self._dof, self._enable, self._inputs = [], [], [], [], []
        for b in self.bindings:
            a = _resolve_actuator(model, b.target, b.kind)
            joint = model.actuator_trnid[a, 0]
            self._actuator.append(a)
            self._qpos.append(int(model.jnt_qposadr[joint]))
            self._dof.append(int(model.jnt_dofadr[joint]))
            self._enable.append(None if b.enable is None else _resolve_actuator(model, b.enable, b.kind, any_transmission=True))
            accepted = b.config.logged_inputs() if hasattr(b.config, "logged_inputs") else ()
            for key in b.inputs:
                if key not in accepted:
                    raise UserError(f"actuator {b.kind}@{b.target}: inputs: {key!r} cannot come from a log; "
                                    f"{b.kind} takes {', '.join(accepted) or 'none'}")
            self._inputs.append([(key, _resolve_actuator(model, name, b.kind, any_transmission=True)) for key, name in b.inputs.items()])
            info = b.config.param_info()
            for name in b.fitted:
                if name not in info:
                    raise UserError(f"actuator {b.kind}@{b.target}: cannot fit {name!r}; it fits {', '.join(info)}")
                p = info[name]  # the number's kind, for bounds, units and reports (element "model")
                register_kind(name.partition(".")[0], Kind("model", (p.lower == 0) if p.log else None, p.upper, p.unit))
            for pattern, settings in b.per_log.items():
                for key in settings:
                    if key in b.fitted or not hasattr(b.config, key):
                        raise UserError(f"actuator {b.kind}@{b.target}: per_log {pattern!r}: {key!r} is not a fixed setting of {b.kind}")
        self._columns: list[dict[str, int]] = [{} for _ in self.bindings]
        self._net_groups = share_networks(self.models, [b.config for b in self.bindings])
        self._lane_models: list[list] = [self.models]  # actuator model instances per lane (see _rollout)

    def params(self) -> list[Param]:
        """The fitted numbers of every binding as `Param`s named `KIND@TARGET` (e.g. "kt@servo")."""
        out = []
        for b in self.bindings:
            info = b.config.param_info()
            for name in b.fitted:
                p = info[name]
                kind, _, index = name.partition(".")  # "tinynet.w3": kind tinynet, index 3
                out.append(Param(param_name(name, b.target), kind, b.target, int(index[1:]) if index else 0,
                                 float(getattr(b.config, name)), p.lower, p.upper, "log" if p.log else "linear"))
        return out

    def bind(self, params: ParamSet) -> None:
        """Find each fitted number's column in `params` (call before `rollout` with values); a number
        not in `params` keeps its config value."""
        names = params.names
        for b, columns in zip(self.bindings, self._columns):
            columns.clear()
            for name in b.fitted:
                if param_name(name, b.target) in names:
                    columns[name] = names.index(param_name(name, b.target))

    def rollout(self, sim: "Simulator", models: list[mujoco.MjModel], initial: np.ndarray, control: np.ndarray, *,
                values: np.ndarray | None = None, sources: Sequence[str] | None = None) -> np.ndarray:
        """Closed-loop rollout of B trajectories; the arguments are those of `Simulator.rollout`.

        Returns (B, nstep, nstate) states after each step. The replaced MJCF actuators are switched
        off in `models` (the simulator's candidate copies) in place. Torch, when loaded, and BLAS run
        on one thread meanwhile: the rollout threads use the cores, and intra-op threads fighting
        them for small batches cost ten times the network's own time.
        """
        torch = sys.modules.get("torch")
        threads = torch.get_num_threads() if torch is not None else None
        if torch is not None:
            torch.set_num_threads(1)
        try:
            with single_threaded_blas():
                return self._rollout(sim, models, initial, control, values, sources)
        finally:
            if torch is not None:
                torch.set_num_threads(threads)

    def _rollout(self, sim: "Simulator", models: list[mujoco.MjModel], initial: np.ndarray, control: np.ndarray,
                 values: np.ndarray | None, sources: Sequence[str] | None) -> np.ndarray:
        nbatch, nstep, _ = control.shape
        for m in {id(m): m for m in models}.values():
            disable_actuators(m, self._actuator)
        # Lanes: the rows split across the rollout threads, each lane a Python thread running its
        # rows' closed loop on its own MjData with single-threaded rollouts. One lane's network
        # and numpy work then overlaps the others' simulation, and no call pays for waking a thread
        # pool to simulate a few rows for one step. The residual model keeps running statistics,
        # so it runs in one lane (on the thread pool).
        lanes = 1 if self.residual is not None else max(1, min(sim.nthread, nbatch // MIN_LANE_ROWS))
        bounds = np.linspace(0, nbatch, lanes + 1).astype(int)
        rows = [slice(bounds[i], bounds[i + 1]) for i in range(lanes)]
        while len(self._lane_models) < lanes:
            self._lane_models.append([copy.copy(model) for model in self.models])  # own state, shared networks
        for lane, part in enumerate(rows):
            self.reset_models(self._lane_models[lane], part.stop - part.start, None if values is None else values[part],
                              None if sources is None else sources[part])
        if self.residual is not None:
            self.residual.start(nbatch)
        states = np.empty((nbatch, nstep, sim.nstate))
        if lanes == 1:
            self._run(sim, None, self._lane_models[0], models, initial, control, states)
            return states
        with sim.counting_warnings(), concurrent.futures.ThreadPoolExecutor(lanes - 1) as pool:
            jobs = [pool.submit(self._run, sim, lane, self._lane_models[lane], models[part], initial[part], control[part], states[part])
                    for lane, part in enumerate(rows) if lane > 0]
            self._run(sim, 0, self._lane_models[0], models[rows[0]], initial[rows[0]], control[rows[0]], states[rows[0]])
            for job in jobs:
                job.result()
        return states

    def reset_models(self, actuators: list, count: int, values: np.ndarray | None, sources: Sequence[str] | None) -> None:
        """Reset actuator model instances (one per binding, e.g. a lane's) for `count` rows: (count, n)
        `values` of the bound `ParamSet` (None: the config values), per-log settings by `sources`."""
        for b, model, columns in zip(self.bindings, actuators, self._columns):
            model.reset(count, self.control_dt, self._row_params(b, columns, values, sources, count))

    def _run(self, sim: "Simulator", lane: int | None, actuators: list, models: list[mujoco.MjModel], initial: np.ndarray,
             control: np.ndarray, states: np.ndarray) -> None:
        """The closed loop of some rows, written into `states` (B, nstep, nstate): on the thread
        pool (lane None) or on the calling thread with lane `lane`'s MjData."""
        nbatch, nstep, nu = control.shape
        torch = sys.modules.get("torch")
        if torch is not None and lane:
            torch.set_num_threads(1)  # OpenMP's thread count is per thread: this lane's thread too (see `rollout`)
        chunk = np.zeros((nbatch, self.decimation, nu + sim.model.nv))
        out = np.empty((nbatch, self.decimation, sim.nstate))
        force = np.empty((nbatch, sim.model.nv))
        state = np.array(initial, float)
        for k in range(0, nstep, self.decimation):
            n = min(self.decimation, nstep - k)
            if n < self.decimation:  # the last, shorter control step
                chunk, out = chunk[:, :n].copy(), out[:, :n].copy()
            self.forces(state[:, sim.qpos_slice], state[:, sim.qvel_slice], control[:, k], actuators, out=force)
            chunk[:, :, :nu] = control[:, k : k + n]
            chunk[:, :, nu:] = force[:, None, :]
            if lane is None:
                sim.raw_rollout(models, state, chunk, out, CONTROL_SPEC)
            else:
                sim.lane_rollout(lane, models, state, chunk, out, CONTROL_SPEC)
            states[:, k : k + n] = out
            state = out[:, -1].copy()  # a copy: the next call writes `out` while reading `state`

    def forces(self, qpos: np.ndarray, qvel: np.ndarray, ctrl: np.ndarray, actuators: list | None = None, *,
               out: np.ndarray | None = None) -> np.ndarray:
        """(B, nq), (B, nv), (B, nu) at a control step -> (B, nv) generalized forces of the models.

        actuators: the actuator model instances to run (a lane's; default the first lane's).
        out: (B, nv) array to write the forces into (it is returned)."""
        actuators = self.models if actuators is None else actuators
        nbatch = len(qpos)
        force = np.zeros((nbatch, qvel.shape[1])) if out is None else out
        if out is not None:
            force.fill(0.0)
        torques: list[np.ndarray | None] = [None] * len(actuators)
        for group in self._net_groups:  # bindings running one shared network: one call on all their rows
            x = np.concatenate([actuators[i].network_input(ctrl[:, self._actuator[i]], qpos[:, self._qpos[i]], qvel[:, self._dof[i]])
                                for i in group])
            y = actuators[group[0]].evaluate(x)
            for j, i in enumerate(group):
                torques[i] = y[j * nbatch : (j + 1) * nbatch]
        for i, (model, tau) in enumerate(zip(actuators, torques)):
            for key, column in self._inputs[i]:
                setattr(model, key, ctrl[:, column])
            if tau is None:
                tau = model.compute(ctrl[:, self._actuator[i]], qpos[:, self._qpos[i]], qvel[:, self._dof[i]])
            if self._enable[i] is not None:
                tau = np.where(ctrl[:, self._enable[i]] > 0.5, tau, 0.0)
            force[:, self._dof[i]] += tau
        if self.residual is not None:
            force += self.residual.compute(qpos, qvel, ctrl)
        return force

    def _row_params(self, b: Binding, columns: dict[str, int], values: np.ndarray | None, sources: Sequence[str] | None,
                    nbatch: int) -> dict[str, np.ndarray]:
        """name -> (B,) values of one binding: fitted columns of `values`, per-log settings by source."""
        rows = {} if values is None else {name: np.asarray(values[:, i], float) for name, i in columns.items()}
        if b.per_log and sources is not None:
            for pattern, settings in b.per_log.items():
                match = np.array([fnmatch.fnmatchcase(s, pattern) for s in sources])
                for key, value in settings.items():
                    column = rows.setdefault(key, np.full(nbatch, float(getattr(b.config, key))))
                    column[match] = float(value)
        return rows


def share_networks(models: Sequence[Any], configs: Sequence[Any]) -> list[list[int]]:
    """Groups of models that run the same MLP file (e.g. one network for every knee): each group
    then shares one module and one call on all its joints' rows per control step, since a call's
    fixed cost, not its rows, dominates a small network. Returns the groups of 2 or more indices."""
    groups: dict[str, list[int]] = {}
    for i, (model, config) in enumerate(zip(models, configs)):
        if hasattr(model, "network_input") and model.meta.get("net") == "mlp":
            folder = pathlib.Path(config.path).resolve()
            groups.setdefault(str(folder.parent if folder.suffix in (".pt", ".json", ".npz") else folder), []).append(i)
    shared = [members for members in groups.values() if len(members) > 1]
    for members in shared:
        for i in members[1:]:
            models[i].module = models[members[0]].module
    return shared


def param_name(name: str, target: str) -> str:
    """Output name of an actuator model's number: "kt" -> "kt@knee", "tinynet.w3" -> "tinynet@knee.w3"."""
    kind, dot, suffix = name.partition(".")
    return f"{kind}@{target}{dot}{suffix}"


def disable_actuators(model: mujoco.MjModel, actuators: Sequence[int]) -> None:
    """Switch off `actuators` of `model` in place (group DISABLED_GROUP, disabled in opt)."""
    for a in actuators:
        model.actuator_group[a] = DISABLED_GROUP
    if actuators:
        model.opt.disableactuator |= 1 << DISABLED_GROUP


def _resolve_actuator(model: mujoco.MjModel, target: str, kind: str, *, any_transmission: bool = False) -> int:
    """Index of the MJCF actuator named `target`, or of the one actuator driving joint `target`."""
    actuators = [model.actuator(a).name for a in range(model.nu)]
    if target in actuators:
        a = actuators.index(target)
    else:
        joint = next((j for j in range(model.njnt) if model.joint(j).name == target), None)
        if joint is None:
            raise UserError(f"--actuator {kind}@{target}: no actuator or joint named {target!r}; actuators: {', '.join(actuators) or '(none)'}")
        driving = [a for a in range(model.nu) if model.actuator_trntype[a] == mujoco.mjtTrn.mjTRN_JOINT and model.actuator_trnid[a, 0] == joint]
        if len(driving) != 1:
            raise UserError(f"--actuator {kind}@{target}: joint {target!r} is driven by {len(driving)} actuators; "
                            f"name the actuator whose .ctrl column is the command instead")
        a = driving[0]
    if not any_transmission:
        joint = model.actuator_trnid[a, 0]
        if model.actuator_trntype[a] != mujoco.mjtTrn.mjTRN_JOINT or model.jnt_type[joint] not in SCALAR_JOINTS:
            raise UserError(f"--actuator {kind}@{target}: actuator {actuators[a]!r} must drive a hinge or slide joint directly")
    return a


def parse_actuators(text: str, model: mujoco.MjModel, options: Mapping[str, Any] | None = None, *,
                    trust_code: bool = False) -> ClosedLoop:
    """Parse `--actuator MODEL@TARGET[,MODEL@TARGET...]` with options from the fit config.

    Args:
      text: e.g. "dcmotor@knee,friction@knee"; MODEL is a name of `actuator_models.MODELS` or
        "net:FOLDER" (a network trained by `sysid actuator train`).
      model: the compiled input model.
      options: the config's `actuators` mapping: "control_dt" (s), and per "MODEL@TARGET" the config
        fields plus "fit" (list of names), "per_log" ({glob: {setting: value}}), "enable" (actuator) and
        "inputs" ({setting: actuator}).
      trust_code: let "net:FOLDER" load a TorchScript-only network (runs its code; `--trust-code`).
    """
    from actuator_models import make_config

    options = dict(options or {})
    control_dt = options.pop("control_dt", None)
    if control_dt is not None and not (isinstance(control_dt, (int, float)) and not isinstance(control_dt, bool)
                                       and 0 < control_dt < float("inf")):
        raise UserError(f"config: actuators: control_dt must be a positive number of seconds, got {str(control_dt)[:60]!r}")
    bindings = []
    for item in [t.strip() for t in text.split(",") if t.strip()]:
        kind, at, target = item.partition("@")
        if not at or not target:
            raise UserError(f"--actuator: {item!r} must be MODEL@TARGET, e.g. dcmotor@knee")
        entry = dict(options.pop(item, None) or {})
        fit, per_log, enable = entry.pop("fit", None), entry.pop("per_log", {}), entry.pop("enable", None)
        if fit is not None and not (isinstance(fit, list) and all(isinstance(f, str) for f in fit)):
            raise UserError(f"--actuator {item}: fit must be a list of setting names, e.g. [kt, R]; got {str(fit)[:60]!r}")
        if not isinstance(per_log or {}, Mapping) or not all(isinstance(v, Mapping) for v in (per_log or {}).values()):
            raise UserError(f"--actuator {item}: per_log must map log-name globs to {{setting: value}}; got {str(per_log)[:60]!r}")
        if enable is not None and not isinstance(enable, str):
            raise UserError(f"--actuator {item}: enable must name an actuator; got {str(enable)[:60]!r}")
        inputs = entry.pop("inputs", None) or {}
        if not isinstance(inputs, Mapping) or not all(isinstance(v, str) for v in inputs.values()):
            raise UserError(f"--actuator {item}: inputs must map settings to actuator names, e.g. {{vin: servo_vin}}; got {inputs!r}")
        if trust_code and kind.startswith("net:"):
            entry.setdefault("trust_code", True)
        config = make_config(kind, entry, where=f"--actuator {item}")
        bindings.append(Binding(kind.split(":")[0], target, config, None if fit is None else tuple(fit), per_log or {}, enable,
                                dict(inputs)))
    if options:
        raise UserError(f"config: actuators: {', '.join(map(repr, options))} match no --actuator item; items: {text}")
    return ClosedLoop(model, bindings, control_dt=None if control_dt is None else float(control_dt))



def network_folder(text: str, base: pathlib.Path) -> pathlib.Path:
    """The folder of an actuator network named in actuators.json: a relative one next to actuators.json
    (`base`, a bundle's copy) first, else as written; a file of the network (net.json, ...) names its folder."""
    path = pathlib.Path(text)
    if not path.is_absolute() and (base / path).exists():
        path = base / path
    return path.parent if path.is_file() else path


def load_actuators(path: str | pathlib.Path, model: mujoco.MjModel, *, randomized: bool = False,
                   within: pathlib.Path | None = None) -> ClosedLoop:
    """The actuator models of a fit's actuators.json (`sysid fit --actuator`), every number at its fitted value.

    randomized: the numbers the fit fitted stay parameters of the loop (`ClosedLoop.params`, named
      KIND@TARGET), so drawn values can replace them (a bundle); else they are fixed settings (`sysid eval`).
    within: every actuator network must lie in this folder (a bundle's own copies).
    A network is never loaded as TorchScript from here (that runs its code): `trust_code` in the file is ignored.
    """
    import json

    path = pathlib.Path(path)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        items, options = [], {}
        for m in meta["models"]:
            kind = m["model"]
            # JSON has no inf: a null setting (e.g. max_current: inf, no limit) takes the model's default.
            settings = {k: v for k, v in m["settings"].items() if v is not None and k != "trust_code"}
            if kind == "net":  # the folder goes in the settings: a path may hold '@' or ','
                folder = network_folder(str(settings["path"]), path.parent)
                if within is not None and not folder.resolve().is_relative_to(within.resolve()):
                    raise UserError(f"{path}: actuator network {str(settings['path'])[:100]!r} lies outside {within}")
                settings["path"], kind = str(folder), "net:network"
            item = f"{kind}@{m['target']}"
            items.append(item)
            options[item] = {**settings, "fit": list(m.get("fitted") or []) if randomized else [], "per_log": m.get("per_log") or {},
                             "enable": m.get("enable"), "inputs": m.get("inputs") or {}}
        if meta.get("control_dt") is not None:
            options["control_dt"] = meta["control_dt"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise UserError(f"{path}: not a sysid actuators.json (missing or malformed 'models')") from None
    return parse_actuators(",".join(items), model, options)


class StepLoop:
    """A `ClosedLoop` for one MjData that the caller steps (a policy env, a trainer's own loop).

    It computes what `ClosedLoop.rollout` computes for one row: every `decimation` model steps the
    actuator models' and the residual's generalized force from the current state and that step's
    command, held as `qfrc_applied` until the next evaluation. The MJCF actuators the models replace
    are switched off in `model`, as in the fit's rollouts.

    Usage, per episode: `reset(values)`, then before every `mj_step`: `before_step(data, ctrl)` with
    the command the plant sees at that step (after the actuation delay), then set `data.ctrl` and step.

    Args:
      loop: the closed loop (its own instances are copied: several StepLoops may share one loop).
      model: the MjModel that will be stepped (changed in place: replaced actuators switched off).
    """

    def __init__(self, loop: ClosedLoop, model: mujoco.MjModel):
        self.loop = loop
        self.params = ParamSet(loop.params())
        loop.bind(self.params)
        self.actuators = [copy.copy(m) for m in loop.models]  # own state, shared networks (as a lane's)
        disable_actuators(model, loop._actuator)
        self._force = np.zeros((1, model.nv))
        self._step = 0

    @property
    def names(self) -> list[str]:
        """The loop's parameter names (KIND@TARGET) that `reset` reads from its values."""
        return self.params.names

    def reset(self, values: Mapping[str, float] | None = None) -> None:
        """Start an episode with the loop's parameters at `values` (name -> value; missing ones: the fit's)."""
        values = values or {}
        row = np.array([[float(values.get(p.name, p.initial)) for p in self.params]])
        self.loop.reset_models(self.actuators, 1, row, None)
        if self.loop.residual is not None and hasattr(self.loop.residual, "start"):
            self.loop.residual.start(1)
        self._step = 0

    def before_step(self, data: mujoco.MjData, ctrl: np.ndarray) -> None:
        """Set `data.qfrc_applied` for the next `mj_step`; ctrl (nu,) the command the plant sees at this step."""
        if self._step % self.loop.decimation == 0:
            self.loop.forces(data.qpos[None], data.qvel[None], np.asarray(ctrl, float)[None], self.actuators, out=self._force)
        data.qfrc_applied[:] = self._force[0]
        self._step += 1
