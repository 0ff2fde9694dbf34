"""`Track`: a `Log` bound to a model — signals matched to state entries, noise levels, filtered states."""

from __future__ import annotations

import dataclasses
import warnings

import mujoco
import numpy as np

from sysid.data import Log, noise_std, smooth
from sysid.errors import UserError
from sysid.floating import LAYOUTS, angular_velocity, clean_quaternions, quat_to_rotvec, rotation_path, split_component

SCALAR_JOINTS = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
NOISE_FLOOR = 1e-4  # fraction of a signal's range: the smallest noise level its residuals are divided by


@dataclasses.dataclass(frozen=True)
class Orientation:
    """The orientation of one logged free or ball joint, compared as a rotation vector.

    Attributes:
      signal: index in `Track.signals` of the first of its three `J.rot[k]` signals (their state
        index is the joint's qw; the loss reads the whole quaternion from there).
      quat: (N, 4) the logged quaternions, normalised, with a continuous sign.
    """

    signal: int
    quat: np.ndarray


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
      orientations: the logged free and ball joints' orientations; their `J.rot[k]` signals hold the
        rotation vector of the logged quaternion, and the loss compares the simulated one with it as
        a rotation-vector difference (`sysid.floating.sub_quat`).
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
    orientations: tuple[Orientation, ...] = ()


def bind_log(log: Log, model: mujoco.MjModel) -> Track:
    """Match a log's columns to `model` and prepare filtered states and noise levels.

    Hinge and slide joints are logged as `J.pos` / `J.vel`; free and ball joints as their coordinates
    `J.pos[k]` / `J.vel[k]` (`sysid.floating`), whose orientation is compared as a rotation vector.
    Raises UserError naming the log file and column when a joint or actuator is not in the model.
    """
    joints = {model.joint(j).name: j for j in range(model.njnt)}
    actuators = {model.actuator(a).name: a for a in range(model.nu)}
    multi = _multi_coordinate(log, model, joints)  # free / ball joint -> (N, nq) positions, (N, nv) velocities or None
    for group, names in (("pos", log.pos), ("vel", log.vel)):
        for name in names:
            if split_component(name) is not None and split_component(name)[0] in multi:
                continue
            if name not in joints:
                raise UserError(
                    f"{log.source}: column '{name}.{group}': no joint named {name!r} in the model; "
                    f"joints: {', '.join(joints) or '(none)'}"
                )
            if model.jnt_type[joints[name]] not in SCALAR_JOINTS:
                layout = LAYOUTS[int(model.jnt_type[joints[name]])]
                raise UserError(f"{log.source}: column '{name}.{group}': joint {name!r} is a {layout.kind} joint; "
                                f"log it as {layout.help.replace('J.', name + '.')}")
    for name in log.vel:
        if name not in log.pos and split_component(name) is None:
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
    floating = [f"{LAYOUTS[int(model.jnt_type[j])].kind} joint {n!r}"
                for n, j in joints.items() if model.jnt_type[j] not in SCALAR_JOINTS and n not in multi]
    if floating:
        warnings.warn(f"{log.source}: the model's {', '.join(floating)} not in the log; every window starts them at "
                      "qpos0, at rest, and they are not compared: log them (J.pos[k], see docs/floating-and-contacts.md), "
                      "or weld the body if it is fixed on the robot", stacklevel=2)
    missing_actuators = [n for n in actuators if n not in log.ctrl]
    if missing_actuators:
        warnings.warn(f"{log.source}: actuators {missing_actuators} have no '.ctrl' column; their control is 0", stacklevel=2)

    n = len(log.time)
    nq, nv = model.nq, model.nv
    qpos = np.tile(model.qpos0, (n, 1))
    qvel = np.zeros((n, nv))
    signals, units, values, sigma, state_index, refine_index, refine_scale = [], [], [], [], [], [], []
    orientations: list[Orientation] = []
    floored: list[str] = []  # signals whose noise estimate fell below the floor
    # One filter call for every logged position and velocity column of a hinge or slide joint: (N, joints + velocities).
    scalar_pos = {k: v for k, v in log.pos.items() if k in joints}
    scalar_vel = {k: v for k, v in log.vel.items() if k in joints}
    logged = [*scalar_pos.values(), *scalar_vel.values()]
    smoothed, derivative = smooth(log.time, np.stack(logged, axis=1)) if logged else (None, None)
    column = {("pos", name): k for k, name in enumerate(scalar_pos)} | {("vel", name): len(scalar_pos) + k for k, name in enumerate(scalar_vel)}
    for name, pos in scalar_pos.items():
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
        if name in scalar_vel:
            vel_sigma = _noise(log.time, scalar_vel[name], f"{name}.vel", floored)
            qvel[:, dadr] = smoothed[:, column["vel", name]]
            signals.append(f"{name}.vel")
            units.append(f"{unit}/s")
            values.append(scalar_vel[name])
            sigma.append(vel_sigma)
            state_index.append(1 + nq + dadr)
        else:
            qvel[:, dadr] = vel_from_pos
            vel_sigma = _noise(log.time, vel_from_pos, f"{name}.vel", [])
        refine_index += [1 + qadr, 1 + nq + dadr]
        refine_scale += [pos_sigma, vel_sigma]
    for name, (pos, vel) in multi.items():
        j = joints[name]
        layout = LAYOUTS[int(model.jnt_type[j])]
        qadr, dadr, a = model.jnt_qposadr[j], model.jnt_dofadr[j], layout.quat
        where = f"{log.source}: columns '{name}.pos[{a}]'..'{name}.pos[{a + 3}]'"
        quat = clean_quaternions(pos[:, a : a + 4], where)
        quat_smooth = smooth(log.time, quat)[0]
        quat_smooth /= np.linalg.norm(quat_smooth, axis=1, keepdims=True)
        derived = np.empty((n, layout.nv))
        derived[:, -3:] = angular_velocity(log.time, quat_smooth)
        qpos[:, qadr + a : qadr + a + 4] = quat_smooth
        if a:  # a free joint's position, like a slide joint's
            xyz_smooth, derived[:, :3] = smooth(log.time, pos[:, :3])
            qpos[:, qadr : qadr + 3] = xyz_smooth
            for k in range(3):
                pos_sigma = _noise(log.time, pos[:, k], f"{name}.pos[{k}]", floored)
                signals.append(f"{name}.pos[{k}]")
                units.append("m")
                values.append(pos[:, k])
                sigma.append(pos_sigma)
                state_index.append(1 + qadr + k)
                refine_index.append(1 + qadr + k)
                refine_scale.append(pos_sigma)
        # The orientation: three rotation-vector signals, compared by `sysid.loss` through `orientations`.
        orientations.append(Orientation(len(signals), quat))
        path = rotation_path(quat)
        for k in range(3):
            signals.append(f"{name}.rot[{k}]")
            units.append("rad")
            sigma.append(_noise(log.time, path[:, k], f"{name}.rot[{k}]", floored))
            state_index.append(1 + qadr + a)  # qw; the loss reads the whole quaternion
            # Refined as offsets on qx qy qz (MuJoCo normalises the quaternion in the first step): a small
            # rotation of about twice the offset, whatever the orientation but a half turn from the identity.
            refine_index.append(1 + qadr + a + 1 + k)
            refine_scale.append(sigma[-1] / 2)
        values += list(quat_to_rotvec(quat).T)
        if vel is not None:
            qvel[:, dadr : dadr + layout.nv] = smooth(log.time, vel)[0]
        else:
            qvel[:, dadr : dadr + layout.nv] = derived
        for k in range(layout.nv):
            unit = "m/s" if k < layout.nv - 3 else "rad/s"
            if vel is not None:
                vel_sigma = _noise(log.time, vel[:, k], f"{name}.vel[{k}]", floored)
                signals.append(f"{name}.vel[{k}]")
                units.append(unit)
                values.append(vel[:, k])
                sigma.append(vel_sigma)
                state_index.append(1 + nq + dadr + k)
            else:
                vel_sigma = _noise(log.time, derived[:, k], f"{name}.vel[{k}]", [])
            refine_index.append(1 + nq + dadr + k)
            refine_scale.append(vel_sigma)

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
        orientations=tuple(orientations),
    )


def _bind_sensors(log: Log, model: mujoco.MjModel) -> dict[str, int]:
    """Sensor column -> its sensordata entry. A column whose sensor is not in the model is ignored
    with a warning; one of the wrong dimension raises UserError naming the sensor."""
    sensors = {model.sensor(s).name: s for s in range(model.nsensor)}
    bound, unknown = {}, []
    for column in log.sensors:
        name, k = split_component(column) or (column, None)
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


def _multi_coordinate(log: Log, model: mujoco.MjModel, joints: dict[str, int]) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """The logged free and ball joints: name -> (N, nq) positions and (N, nv) velocities (None when not logged).

    Raises UserError naming the column for a coordinate of a hinge or slide joint, one out of range, or a
    missing one.
    """
    found: dict[str, dict[str, dict[int, np.ndarray]]] = {}
    for group, signals in (("pos", log.pos), ("vel", log.vel)):
        for key, x in signals.items():
            parts = split_component(key)
            if parts is None or key in joints:
                continue
            name, k = parts
            if name not in joints:
                raise UserError(f"{log.source}: column '{name}.{group}[{k}]': no joint named {name!r} in the model; "
                                f"joints: {', '.join(joints) or '(none)'}")
            if model.jnt_type[joints[name]] in SCALAR_JOINTS:
                raise UserError(f"{log.source}: column '{name}.{group}[{k}]': joint {name!r} is a hinge or slide joint "
                                f"with one coordinate; log it as '{name}.{group}'")
            found.setdefault(name, {"pos": {}, "vel": {}})[group][k] = x
    out = {}
    for name, groups in found.items():
        layout = LAYOUTS[int(model.jnt_type[joints[name]])]
        arrays = []
        for group, size in (("pos", layout.nq), ("vel", layout.nv)):
            given = groups[group]
            if group == "vel" and not given:
                arrays.append(None)
                continue
            wrong = [k for k in given if k >= size] or [k for k in range(size) if k not in given]
            if wrong:
                k = wrong[0]
                problem = "is not a coordinate of it" if k >= size else "is missing"
                raise UserError(f"{log.source}: column '{name}.{group}[{k}]' {problem}: {name!r} is a {layout.kind} joint, "
                                f"logged as {layout.help.replace('J.', name + '.')}")
            arrays.append(np.stack([given[k] for k in range(size)], axis=1))
        out[name] = (arrays[0], arrays[1])
    return out


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
