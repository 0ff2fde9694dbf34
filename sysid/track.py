"""`Track`: a `Log` bound to a model — signals matched to state entries, noise levels, filtered states."""

from __future__ import annotations

import dataclasses
import re
import warnings

import mujoco
import numpy as np

from sysid.data import Log, noise_std, smooth
from sysid.errors import UserError

SCALAR_JOINTS = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
NOISE_FLOOR = 1e-4  # fraction of a signal's range: the smallest noise level its residuals are divided by


@dataclasses.dataclass(frozen=True)
class Track:
    """One log, ready for the loss.

    Attributes:
      source: the log's file.
      time: (N,) s.
      signals: S names compared with the simulation, e.g. "elbow.pos", "elbow.vel".
      units: (S,) their units ("rad", "rad/s", "m", "m/s").
      values: (N, S) logged values of those signals.
      sigma: (S,) estimated noise standard deviation of each signal; residuals are divided by it.
      state_index: (S,) where each signal lives in the rollout's full physics state vector.
      ctrl: (N, nu) commands for every model actuator (0 for actuators the log does not name).
      qpos: (N, nq) filtered positions for starting windows (qpos0 for joints not logged).
      qvel: (N, nv) filtered velocities for starting windows (0 for joints not logged).
      refine_index: (nx,) state entries a fit may refine at each window start (logged joints).
      refine_scale: (nx,) their noise levels, the unit in which refinements are searched.
      sensor: (S,) True for MJCF sensor signals, whose state_index is their entry in the rollout's
        sensordata (not its states); empty: none.
    """

    source: str
    time: np.ndarray
    signals: tuple[str, ...]
    units: tuple[str, ...]
    values: np.ndarray
    sigma: np.ndarray
    state_index: np.ndarray
    ctrl: np.ndarray
    qpos: np.ndarray
    qvel: np.ndarray
    refine_index: np.ndarray
    refine_scale: np.ndarray
    sensor: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, bool))


def bind_log(log: Log, model: mujoco.MjModel) -> Track:
    """Match a log's columns to `model` and prepare filtered states and noise levels.

    Raises UserError naming the log file and column when a joint or actuator is not in the model.
    """
    joints = {model.joint(j).name: j for j in range(model.njnt)}
    actuators = {model.actuator(a).name: a for a in range(model.nu)}
    for group, names in (("pos", log.pos), ("vel", log.vel)):
        for name in names:
            if name not in joints:
                raise UserError(
                    f"{log.source}: column '{name}.{group}': no joint named {name!r} in the model; "
                    f"joints: {', '.join(joints) or '(none)'}"
                )
            if model.jnt_type[joints[name]] not in SCALAR_JOINTS:
                raise UserError(f"{log.source}: column '{name}.{group}': joint {name!r} is not a hinge or slide joint")
    for name in log.vel:
        if name not in log.pos:
            raise UserError(f"{log.source}: column '{name}.vel' has no matching '{name}.pos' column")
    for name in log.ctrl:
        if name not in actuators:
            raise UserError(
                f"{log.source}: column '{name}.ctrl': no actuator named {name!r} in the model; "
                f"actuators: {', '.join(actuators) or '(none)'}"
            )
    missing_joints = [n for n, j in joints.items() if n not in log.pos and model.jnt_type[j] in SCALAR_JOINTS]
    if missing_joints:
        warnings.warn(f"{log.source}: joints {missing_joints} are not logged; windows start them at qpos0, at rest", stacklevel=2)
    floating = [f"{'free' if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE else 'ball'} joint {n!r}"
                for n, j in joints.items() if model.jnt_type[j] not in SCALAR_JOINTS]
    if floating:
        warnings.warn(f"{log.source}: the model's {', '.join(floating)} not in the log (only hinge and slide joints are read); "
                      "every window starts them at qpos0, at rest, and they are not compared: log them, or weld the body "
                      "if it is fixed on the robot", stacklevel=2)
    missing_actuators = [n for n in actuators if n not in log.ctrl]
    if missing_actuators:
        warnings.warn(f"{log.source}: actuators {missing_actuators} have no '.ctrl' column; their control is 0", stacklevel=2)

    n = len(log.time)
    nq, nv = model.nq, model.nv
    qpos = np.tile(model.qpos0, (n, 1))
    qvel = np.zeros((n, nv))
    signals, units, values, sigma, state_index, refine_index, refine_scale = [], [], [], [], [], [], []
    floored: list[str] = []  # signals whose noise estimate fell below the floor
    # One filter call for every logged position and velocity column: (N, joints + velocities).
    logged = [*log.pos.values(), *log.vel.values()]
    smoothed, derivative = smooth(log.time, np.stack(logged, axis=1)) if logged else (None, None)
    column = {("pos", name): k for k, name in enumerate(log.pos)} | {("vel", name): len(log.pos) + k for k, name in enumerate(log.vel)}
    for name, pos in log.pos.items():
        j = joints[name]
        qadr, dadr = model.jnt_qposadr[j], model.jnt_dofadr[j]
        unit = "rad" if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE else "m"
        pos_smooth, vel_from_pos = smoothed[:, column["pos", name]], derivative[:, column["pos", name]]
        pos_sigma = _noise(log.time, pos, f"{name}.pos", floored)
        qpos[:, qadr] = pos_smooth
        signals.append(f"{name}.pos")
        units.append(unit)
        values.append(pos)
        sigma.append(pos_sigma)
        state_index.append(1 + qadr)
        if name in log.vel:
            vel_sigma = _noise(log.time, log.vel[name], f"{name}.vel", floored)
            qvel[:, dadr] = smoothed[:, column["vel", name]]
            signals.append(f"{name}.vel")
            units.append(f"{unit}/s")
            values.append(log.vel[name])
            sigma.append(vel_sigma)
            state_index.append(1 + nq + dadr)
        else:
            qvel[:, dadr] = vel_from_pos
            vel_sigma = _noise(log.time, vel_from_pos, f"{name}.vel", [])
        refine_index += [1 + qadr, 1 + nq + dadr]
        refine_scale += [pos_sigma, vel_sigma]

    for name, entry in _bind_sensors(log, model).items():
        signals.append(name)
        units.append(_sensor_unit(model, entry))
        values.append(log.sensors[name])
        sigma.append(_noise(log.time, log.sensors[name], name, floored))
        state_index.append(entry)
    if floored:
        warnings.warn(f"{log.source}: {', '.join(floored)} look noise-free (estimated noise below {NOISE_FLOOR:g} of the "
                      f"signal's range); their residuals are divided by that floor instead, so losses stay in sane units",
                      stacklevel=2)
    ctrl = np.zeros((n, model.nu))
    for name, command in log.ctrl.items():
        ctrl[:, actuators[name]] = command
    return Track(
        source=log.source,
        time=np.asarray(log.time, float),
        signals=tuple(signals),
        units=tuple(units),
        values=np.stack(values, axis=1),
        sigma=np.asarray(sigma),
        state_index=np.asarray(state_index),
        ctrl=ctrl,
        qpos=qpos,
        qvel=qvel,
        refine_index=np.asarray(refine_index),
        refine_scale=np.asarray(refine_scale),
        sensor=np.array([name in log.sensors for name in signals], bool),
    )


_SENSOR_COLUMN = re.compile(r"(.+)\[(\d+)\]")


def _bind_sensors(log: Log, model: mujoco.MjModel) -> dict[str, int]:
    """Sensor column -> its sensordata entry. A column whose sensor is not in the model is ignored
    with a warning; one of the wrong dimension raises UserError naming the sensor."""
    sensors = {model.sensor(s).name: s for s in range(model.nsensor)}
    bound, unknown = {}, []
    for column in log.sensors:
        m = _SENSOR_COLUMN.fullmatch(column)
        name, k = (m.group(1), int(m.group(2))) if m else (column, None)
        if name not in sensors:
            unknown.append(column)
            continue
        s = sensors[name]
        dim = int(model.sensor_dim[s])
        if k is None and dim != 1:
            raise UserError(f"{log.source}: column {column!r}: sensor {name!r} has {dim} values; log them as "
                            f"'{name}[0]'..'{name}[{dim - 1}]'")
        if k is not None and k >= dim:
            raise UserError(f"{log.source}: column {column!r}: sensor {name!r} has {dim} value{'s' * (dim > 1)}, "
                            f"so its columns are " + (f"'{name}'" if dim == 1 else f"'{name}[0]'..'{name}[{dim - 1}]'"))
        bound[column] = int(model.sensor_adr[s]) + (k or 0)
    if unknown:
        warnings.warn(f"{log.source}: ignoring column(s) {', '.join(map(repr, unknown))}: no MJCF sensor of that name in "
                      f"the model; sensors: {', '.join(sensors) or '(none)'}", stacklevel=3)
    return bound


def _sensor_unit(model: mujoco.MjModel, entry: int) -> str:
    """The sensor type of sensordata entry `entry` (e.g. "jointactuatorfrc"), standing for its unit."""
    s = int(np.searchsorted(model.sensor_adr, entry, side="right") - 1)
    return mujoco.mjtSensor(int(model.sensor_type[s])).name.removeprefix("mjSENS_").lower()


def _noise(time: np.ndarray, x: np.ndarray, name: str, floored: list[str]) -> float:
    """The noise level of a signal (`noise_std`), at least NOISE_FLOOR of its range (the 0.5 to 99.5
    percentile span; 1e-9 for a constant signal): a noise-free (simulated, quantised at rest) signal
    would otherwise divide its residuals by about zero. Appends `name` to `floored` when the floor applies."""
    span = float(np.subtract(*np.percentile(x, [99.5, 0.5]))) if len(x) else 0.0  # a robust range: spikes do not widen it
    floor = NOISE_FLOOR * span if span > 0 else 1e-9
    sigma = noise_std(time, x)
    if sigma < floor:
        floored.append(name)
        return floor
    return sigma
