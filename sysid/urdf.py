"""URDF in: a URDF plus an actuators file compiled through MuJoCo's URDF support into MJCF.

URDF says nothing of motors, armature or the simulation options, so `sysid fit --model robot.urdf
--actuators actuators.yaml` takes them from a YAML file::

    option: {timestep: 0.002, integrator: implicitfast}     # optional, MjSpec option fields
    joints:                                                 # optional, per joint: armature, damping,
      shoulder: {armature: 0.03}                            #   frictionloss, stiffness
    actuators:                                              # one entry per actuator, by name
      shoulder_motor: {joint: shoulder, type: motor, gear: 1, ctrlrange: [-10, 10]}
      elbow_servo: {joint: elbow, type: position, kp: 50, kv: 2, forcerange: [-8, 8]}
      wheel: {joint: wheel, type: velocity, kv: 5}

`load_urdf` reads the URDF with `MjSpec.from_file`, adds the actuators and options through MjSpec and
returns the MJCF text (meshes as absolute paths); the fit then runs on that MJCF like on any other,
and exports calibrated MJCF. Every mistake raises UserError naming the file and entry; a URDF whose
meshes are missing names them.
"""

from __future__ import annotations

import os
import pathlib
import xml.etree.ElementTree as ET
from typing import Any

import mujoco
import numpy as np

from sysid.errors import UserError
from sysid.inputs import excerpt, load_yaml

ACTUATOR_TYPES = ("motor", "position", "velocity")
_ACTUATOR_KEYS = ("joint", "type", "gear", "kp", "kv", "ctrlrange", "forcerange")
_JOINT_KEYS = ("armature", "damping", "frictionloss", "stiffness")
_INTEGRATORS = {"euler": mujoco.mjtIntegrator.mjINT_EULER, "rk4": mujoco.mjtIntegrator.mjINT_RK4,
                "implicit": mujoco.mjtIntegrator.mjINT_IMPLICIT, "implicitfast": mujoco.mjtIntegrator.mjINT_IMPLICITFAST}


def load_urdf(urdf_path: str | os.PathLike, actuators_path: str | os.PathLike | None) -> str:
    """The MJCF text of a URDF with the actuators, joint settings and options of `actuators_path`."""
    urdf = pathlib.Path(urdf_path)
    if not urdf.is_file():
        raise UserError(f"{urdf}: model file not found")
    missing = missing_meshes(urdf)
    if missing:
        raise UserError(f"{urdf}: cannot load the URDF: mesh file(s) not found: {', '.join(missing)} "
                        f"(looked next to the URDF, in {urdf.resolve().parent})")
    try:
        spec = mujoco.MjSpec.from_file(str(urdf))
        spec.meshdir = str(urdf.resolve().parent / (spec.meshdir or ""))
        spec.compile()
    except ValueError as error:
        raise UserError(f"{urdf}: MuJoCo cannot compile the URDF: {' '.join(str(error).split())}") from None
    if actuators_path is not None:
        _apply(spec, pathlib.Path(actuators_path))
    try:
        spec.compile()
    except ValueError as error:
        raise UserError(f"{actuators_path}: the URDF with these actuators does not compile: {' '.join(str(error).split())}") from None
    return spec.to_xml()


def missing_meshes(urdf: pathlib.Path) -> list[str]:
    """The URDF's mesh files that exist neither as written (relative to the URDF) nor by their file name next to it
    (MuJoCo's URDF reader keeps the file name only; `package://` prefixes are dropped)."""
    try:
        root = ET.parse(urdf).getroot()
    except ET.ParseError as error:
        raise UserError(f"{urdf}: not valid XML ({error})") from None
    base = urdf.resolve().parent
    missing = []
    for mesh in root.iter("mesh"):
        name = (mesh.get("filename") or "").replace("package://", "")
        if name and not (base / name).is_file() and not (base / pathlib.PurePath(name).name).is_file():
            missing.append(repr(mesh.get("filename")))
    return list(dict.fromkeys(missing))


def _apply(spec: mujoco.MjSpec, path: pathlib.Path) -> None:
    """Add the actuators file's actuators, joint settings and options to `spec`."""
    doc = load_yaml(str(path), what="actuators file")
    if not isinstance(doc, dict) or not isinstance(doc.get("actuators", {}), dict):
        raise UserError(f"{path}: expected a mapping with 'actuators: {{NAME: {{joint: J, type: motor}}}}'")
    unknown = [k for k in doc if k not in ("option", "joints", "actuators")]
    if unknown:
        raise UserError(f"{path}: unknown key {unknown[0]!r}; keys: option, joints, actuators")
    joints = [j.name for j in spec.joints]
    for name, entry in (doc.get("option") or {}).items():
        if name == "integrator":
            if entry not in _INTEGRATORS:
                raise UserError(f"{path}: option.integrator: {excerpt(entry)}; use one of {', '.join(_INTEGRATORS)}")
            spec.option.integrator = _INTEGRATORS[entry]
        elif name in ("timestep", "impratio", "gravity"):
            setattr(spec.option, name, _numbers(path, f"option.{name}", entry, 3 if name == "gravity" else 1))
        else:
            raise UserError(f"{path}: option.{name}: not supported here; options: integrator, timestep, impratio, gravity")
    for name, entry in (doc.get("joints") or {}).items():
        joint = _joint(path, f"joints.{name}", name, joints, spec)
        for key, value in _mapping(path, f"joints.{name}", entry, _JOINT_KEYS).items():
            current = getattr(joint, key)
            number = _numbers(path, f"joints.{name}.{key}", value, 1)
            if np.ndim(current):
                array = np.array(current, float)
                array[0] = number
                number = array
            setattr(joint, key, number)
    for name, entry in (doc.get("actuators") or {}).items():
        where = f"actuators.{name}"
        entry = _mapping(path, where, entry, _ACTUATOR_KEYS)
        if "joint" not in entry:
            raise UserError(f"{path}: {where}: missing 'joint' (the URDF joint it drives)")
        _joint(path, where, str(entry["joint"]), joints, spec)
        kind = entry.get("type", "motor")
        if kind not in ACTUATOR_TYPES:
            raise UserError(f"{path}: {where}.type: {excerpt(kind)}; use one of {', '.join(ACTUATOR_TYPES)}")
        act = spec.add_actuator(name=str(name), target=str(entry["joint"]), trntype=mujoco.mjtTrn.mjTRN_JOINT)
        if kind == "motor":
            act.set_to_motor()
        elif kind == "position":
            if "kp" not in entry:
                raise UserError(f"{path}: {where}: a position actuator needs 'kp'")
            act.set_to_position(kp=_numbers(path, f"{where}.kp", entry["kp"], 1), kv=_numbers(path, f"{where}.kv", entry.get("kv", 0.0), 1))
        else:
            act.set_to_velocity(kv=_numbers(path, f"{where}.kv", entry.get("kv", 1.0), 1))
        if "gear" in entry:
            gear = np.zeros(6)
            gear[0] = _numbers(path, f"{where}.gear", entry["gear"], 1)
            act.gear = gear
        for key, limited in (("ctrlrange", "ctrllimited"), ("forcerange", "forcelimited")):
            if key in entry:
                setattr(act, key, _numbers(path, f"{where}.{key}", entry[key], 2))
                setattr(act, limited, mujoco.mjtLimited.mjLIMITED_TRUE)


def _joint(path: pathlib.Path, where: str, name: str, joints: list[str], spec: mujoco.MjSpec):
    if name not in joints:
        raise UserError(f"{path}: {where}: no joint named {name!r} in the URDF; joints: {', '.join(joints) or '(none)'}")
    return spec.joint(name)


def _mapping(path: pathlib.Path, where: str, entry: Any, keys: tuple[str, ...]) -> dict:
    if not isinstance(entry, dict):
        raise UserError(f"{path}: {where}: expected a mapping, got {excerpt(entry)}")
    unknown = [k for k in entry if k not in keys]
    if unknown:
        raise UserError(f"{path}: {where}: unknown key {unknown[0]!r}; keys: {', '.join(keys)}")
    return entry


def _numbers(path: pathlib.Path, where: str, value: Any, count: int) -> Any:
    """A number (count 1) or a list of `count` numbers, else UserError naming `where`."""
    try:
        array = np.asarray(value, float).reshape(-1)
    except (TypeError, ValueError):
        array = np.zeros(0)
    if array.size != count or not np.isfinite(array).all():
        raise UserError(f"{path}: {where}: expected {'a number' if count == 1 else f'{count} numbers'}, got {excerpt(value)}")
    return float(array[0]) if count == 1 else array
