"""MuJoCo's own actuator features that a fit sets and calibrated.xml carries: the actuation delay,
torque and control limits, DC motor and PID parameters.

A fitted `delay` is written as MuJoCo's native actuator delay (XML `delay`, `nsample`, `interp`;
MjModel `actuator_delay`, `actuator_history`): every actuator keeps a ring buffer of its last
`nsample` controls, one per step stamped with the time the step started, and reads it at
`time - delay` with linear interpolation. For a command log on the model's step grid this is
exactly sysid's convention (`sysid.sim.held_controls`: the held command delayed by d, averaged
over each step) for every d >= one timestep: the step average of a held signal read at a
fractional offset is the linear interpolation of its two neighbouring samples.

Below one timestep the two differ: MuJoCo reads the buffer before writing this step's control,
so any delay in (0, dt) acts as one whole step (`delay_mismatch`). Before the first step the
buffer holds zeros unless the caller fills it (`mujoco.mj_initCtrlHistory`); sysid assumes the
first command was held.
"""

from __future__ import annotations

import dataclasses
import math
import xml.etree.ElementTree as ET
from typing import Any, Literal

import mujoco
import numpy as np

from sysid.errors import UserError

LINEAR = 1  # mjs / MjModel interp code of "linear"


def delay_settings(model: mujoco.MjModel, delay: float) -> list[tuple[int, float]]:
    """(nsample, total delay in s) per actuator for a fitted `delay` (s) added to each actuator's own.

    nsample covers the total delay (MuJoCo extrapolates reads older than its buffer) with one
    sample to spare; an actuator already buffering more keeps its buffer.
    """
    dt = float(model.opt.timestep)
    out = []
    for a in range(model.nactuator):
        total = float(model.actuator_delay[a]) + delay
        nsample = max(int(model.actuator_history[a, 0]), math.ceil(total / dt - 1e-9) + 1)
        out.append((nsample, total))
    return out


def set_spec_delay(spec: mujoco.MjSpec, model: mujoco.MjModel, delay: float) -> None:
    """Write a fitted `delay` (s) into every actuator of `spec` (the source of `model`) as MuJoCo's delay."""
    for act, (nsample, total) in zip(spec.actuators, delay_settings(model, delay)):
        act.nsample, act.interp, act.delay = nsample, LINEAR, total


def with_delay(model: mujoco.MjModel, spec: mujoco.MjSpec, delay: float) -> mujoco.MjModel:
    """`spec` (the source of `model`) compiled with a fitted `delay` (s) as MuJoCo's actuator delay."""
    set_spec_delay(spec, model, delay)
    return spec.compile()


def delay_mismatch(model: mujoco.MjModel, delay: float) -> str | None:
    """Why MuJoCo's native delay cannot reproduce `delay` (s) exactly on `model`, or None when it can."""
    dt = float(model.opt.timestep)
    if 0 < delay < dt * (1 - 1e-9):
        return (f"the fitted delay {1e3 * delay:.3g} ms is below one timestep ({1e3 * dt:.3g} ms): MuJoCo applies any "
                "positive delay shorter than a step as one whole step, so calibrated.xml replays with a "
                f"{1e3 * dt:.3g} ms delay; a smaller timestep expresses it")
    return None


def strip_delay(model: mujoco.MjModel, delay: float) -> None:
    """Remove in place a fitted `delay` (s) that calibrated.xml carries natively from `model` (compiled
    from it), for callers that delay the commands themselves (`sysid.sim.held_controls`); each
    actuator keeps its own delay. A model written before delays were native has none to remove."""
    model.actuator_delay[:] = np.maximum(model.actuator_delay - delay, 0.0)


def init_history(model: mujoco.MjModel, data: mujoco.MjData, ctrl: np.ndarray) -> None:
    """Fill every actuator's control history with (nu,) `ctrl`: the command held before time 0
    (DESIGN.md: before the first row the plant sees the first row's command)."""
    for a in range(model.nactuator):
        nsample = int(model.actuator_history[a, 0])
        if nsample > 0:
            mujoco.mj_initCtrlHistory(model, data, a, None, np.full(nsample, float(ctrl[a])))


# ---- native actuator parameters: limits, DC motor, PID ---------------------------------------------
# Where each kind lives in an actuator's MjModel arrays, by actuator family (MuJoCo's XML reference:
# pid sets biasprm = [0, -kp, -kv], gainprm[0] = ki, dynprm[0] = imax; dcmotor stores gainprm =
# [R, K, alpha, T0, kp, ki, kd, Vmax], dynprm[0] = L/R, dynprm[7:9] = [slewmax, Imax]).
# A slot is (array, index, sign): the array entry set to sign * value.
Slot = tuple[str, int, float]
SLOTS: dict[tuple[str, str], tuple[Slot, ...]] = {
    ("kp", "position"): (("gainprm", 0, 1.0), ("biasprm", 1, -1.0)),
    ("kv", "position"): (("biasprm", 2, -1.0),),
    ("kp", "pid"): (("biasprm", 1, -1.0),),
    ("kv", "pid"): (("biasprm", 2, -1.0),),
    ("ki", "pid"): (("gainprm", 0, 1.0),),
    ("imax", "pid"): (("dynprm", 0, 1.0),),
    ("resistance", "dcmotor"): (("gainprm", 0, 1.0),),
    ("motorconst", "dcmotor"): (("gainprm", 1, 1.0),),
    ("kp", "dcmotor"): (("gainprm", 4, 1.0),),
    ("ki", "dcmotor"): (("gainprm", 5, 1.0),),
    ("kd", "dcmotor"): (("gainprm", 6, 1.0),),
    ("vmax", "dcmotor"): (("gainprm", 7, 1.0),),
    ("imax", "dcmotor"): (("dynprm", 8, 1.0),),
}
RANGE_KINDS = ("forcerange", "ctrlrange")
RANGE_PARTS = ("", "lo", "hi")  # index 0: a symmetric limit [-v, v]; 1, 2: one end
WHY_NOT = {
    "kp": "kp applies to position actuators, pid and dcmotor ones",
    "kv": "kv applies to position and pid actuators",
    "ki": "ki applies to pid and dcmotor actuators with integral action (ki > 0 in the model)",
    "imax": "imax applies to pid and dcmotor actuators with integral action (ki > 0 in the model)",
    "kd": "kd applies to dcmotor actuators (their controller's derivative gain)",
    "vmax": "vmax applies to dcmotor actuators (their controller's voltage clamp)",
    "resistance": "resistance applies to dcmotor actuators",
    "motorconst": "motorconst applies to dcmotor actuators",
}


def family(model: mujoco.MjModel, a: int) -> str:
    """"position", "pid", "dcmotor" or "other": which native parameters actuator `a` has."""
    gain, bias = model.actuator_gaintype[a], model.actuator_biastype[a]
    if gain == mujoco.mjtGain.mjGAIN_DCMOTOR:
        return "dcmotor"
    if gain == mujoco.mjtGain.mjGAIN_PID:
        return "pid"
    if (gain == mujoco.mjtGain.mjGAIN_FIXED and bias == mujoco.mjtBias.mjBIAS_AFFINE and model.actuator_gainprm[a, 0] > 0
            and np.isclose(model.actuator_biasprm[a, 1], -model.actuator_gainprm[a, 0])):
        return "position"
    return "other"


def applies(model: mujoco.MjModel, a: int, kind: str) -> bool:
    """True when actuator `a` has a `kind` to fit."""
    if kind in RANGE_KINDS:
        return True
    fam = family(model, a)
    if kind in ("ki", "imax"):  # the integral state exists only when compiled with ki > 0
        return (fam == "pid" and model.actuator_dyntype[a] == mujoco.mjtDyn.mjDYN_PID) or (
            fam == "dcmotor" and model.actuator_gainprm[a, 5] > 0)
    return (kind, fam) in SLOTS


def read(model: mujoco.MjModel, a: int, kind: str, index: int) -> float:
    """The model's value of `kind` (component `index` for ranges) on actuator `a`; a range that is not
    limited reads 0."""
    if kind in RANGE_KINDS:
        limited = bool(getattr(model, f"actuator_{kind[:-5]}limited")[a])
        lo, hi = getattr(model, f"actuator_{kind}")[a] if limited else (0.0, 0.0)
        return float(max(-lo, hi, 0.0) if index == 0 else (lo, hi)[index - 1])
    field, i, sign = SLOTS[kind, family(model, a)][0]
    return float(sign * getattr(model, f"actuator_{field}")[a, i])


def writer(model: mujoco.MjModel, a: int, kind: str, index: int):
    """A function (MjModel copy, value) -> None writing `kind` of actuator `a` (indices found once)."""
    if kind in RANGE_KINDS:
        values, flag = f"actuator_{kind}", f"actuator_{kind[:-5]}limited"

        def write_range(m: mujoco.MjModel, v: float) -> None:
            if index == 0:
                getattr(m, values)[a] = (-v, v)
            else:
                getattr(m, values)[a, index - 1] = v
            getattr(m, flag)[a] = 1

        return write_range
    slots = SLOTS[kind, family(model, a)]
    inductance = float(model.actuator_dynprm[a, 0]) * float(model.actuator_gainprm[a, 0])  # dcmotor L = (L/R) R

    def write(m: mujoco.MjModel, v: float) -> None:
        for field, i, sign in slots:
            getattr(m, f"actuator_{field}")[a, i] = sign * v
        if kind == "resistance" and inductance > 0:  # keep the inductance L, as the XML states it
            m.actuator_dynprm[a, 0] = inductance / v

    return write


def write_spec(act: "mujoco.MjsActuator", fitted: mujoco.MjModel, a: int) -> None:
    """Copy actuator `a`'s fitted arrays (gains, biases, dynamics, limits) into its MjSpec element."""
    for field in ("gainprm", "biasprm", "dynprm", "forcerange", "ctrlrange"):
        setattr(act, field, np.array(getattr(fitted, f"actuator_{field}")[a], float)[: len(getattr(act, field))])
    for flag in ("forcelimited", "ctrllimited"):
        if getattr(fitted, f"actuator_{flag}")[a]:
            setattr(act, flag, mujoco.mjtLimited.mjLIMITED_TRUE)


def patch_element(element, fitted: mujoco.MjModel, a: int, kinds: set[str]) -> None:
    """Write the fitted `kinds` of actuator `a` into its MJCF element (`xml.etree` Element, edited in
    place) in the attributes of its tag. Raises ValueError for a form it cannot express."""
    fmt = lambda *xs: " ".join(repr(float(x)) for x in xs)  # noqa: E731
    tag, gain, dyn = element.tag, fitted.actuator_gainprm[a], fitted.actuator_dynprm[a]
    if tag == "general":
        for field in ("gainprm", "biasprm", "dynprm"):
            element.set(field, fmt(*getattr(fitted, f"actuator_{field}")[a]))
    for kind in sorted(kinds):
        if kind == "ctrlrange" or (kind == "forcerange" and tag != "dcmotor"):
            element.set(kind, fmt(*getattr(fitted, f"actuator_{kind}")[a]))
            element.set(f"{kind[:-5]}limited", "true")
        elif kind == "forcerange":  # a dcmotor states its torque limit as saturation="torque current rate"
            lo, hi = fitted.actuator_forcerange[a]
            if not np.isclose(-lo, hi, rtol=1e-12, atol=0):
                raise ValueError(f"a <dcmotor> states a symmetric torque limit only, fitted [{lo}, {hi}]")
            rate = (element.get("saturation") or "0 0 0").split()[2:3] or ["0"]
            element.set("saturation", f"{fmt(hi)} 0 {rate[0]}")
        elif tag == "general":
            continue
        elif tag == "position":
            element.set(kind, fmt(read(fitted, a, kind, 0)))
            if kind == "kv":
                element.attrib.pop("dampratio", None)
        elif tag == "pid":
            element.set(kind, fmt(read(fitted, a, kind, 0)))
            if kind == "kv":
                element.attrib.pop("dampratio", None)
        elif tag == "dcmotor" and kind in ("resistance", "motorconst"):
            element.attrib.pop("nominal", None)  # stated as K and R from now on
            element.set("resistance", fmt(gain[0]))
            element.set("motorconst", fmt(gain[1]))
        elif tag == "dcmotor":
            element.set("controller", fmt(gain[4], gain[5], gain[6], dyn[7], dyn[8], gain[7]))
        else:
            raise ValueError(f"cannot write {kind} into a <{tag}> actuator")


# ---- turning a plain actuator into a dcmotor or pid one for the fit (config `convert:`) ------------
COMMON_ATTRS = {"name", "class", "group", "nsample", "interp", "delay", "ctrllimited", "ctrlrange", "lengthrange", "gear",
                "damping", "armature", "cranklength", "joint", "jointinparent", "tendon", "cranksite", "slidersite", "site",
                "refsite", "user"}
OWN_ATTRS = {  # the attributes each converted element may state (MuJoCo's XML reference)
    "dcmotor": {"motorconst", "resistance", "nominal", "saturation", "inductance", "cogging", "controller", "input", "lugre",
                "thermal"},
    "pid": {"kp", "kv", "dampratio", "ki", "imax", "slewmax", "input", "forcelimited", "forcerange", "posrange", "velrange",
            "ffrange", "inheritrange"},
}
DEFAULT_INPUT = {"motor": "ff", "position": "pos"}  # the logged command keeps its meaning: a torque, a position target


@dataclasses.dataclass(frozen=True)
class Conversion:
    """One actuator turned into a MuJoCo dcmotor or pid for the fit.

    Attributes:
      actuator: the actuator's name in the input model.
      to: "dcmotor" or "pid".
      attrs: (attribute, text) pairs of the new element, e.g. ("motorconst", "0.05"), as in MuJoCo's
        XML reference; `input` defaults to "ff" for a <motor> (the command stays a torque) and "pos"
        for a <position> (a position target).
    """

    actuator: str
    to: Literal["dcmotor", "pid"]
    attrs: tuple[tuple[str, str], ...]

    def __post_init__(self):
        if self.to not in OWN_ATTRS:
            raise UserError(f"config: convert.{self.actuator}.to must be dcmotor or pid, got {self.to!r}")
        unknown = sorted({k for k, _ in self.attrs} - OWN_ATTRS[self.to])
        if unknown:
            raise UserError(f"config: convert.{self.actuator}: {', '.join(unknown)} is not an attribute of <{self.to}>; "
                            f"allowed: {', '.join(sorted(OWN_ATTRS[self.to]))}")

    def as_dict(self) -> dict:
        return {"to": self.to, **dict(self.attrs)}


def parse_conversions(raw: Any, source: str) -> tuple[Conversion, ...]:
    """The config's `convert:` mapping {ACTUATOR: {to: dcmotor | pid, ATTRIBUTE: value, ...}} as Conversions;
    a value is a number, a list of numbers or a string (written as MJCF attribute text)."""
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise UserError(f"{source}: 'convert' must map actuator names to {{to: dcmotor | pid, ATTRIBUTE: value, ...}}")
    out = []
    for name, entry in raw.items():
        attrs = []
        for key, value in entry.items():
            if key == "to":
                continue
            values = value if isinstance(value, (list, tuple)) else [value]
            if not all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in values):
                raise UserError(f"{source}: convert.{name}.{key} must be a number, a list of numbers or a string, got {value!r}")
            attrs.append((str(key), " ".join(str(v) for v in values)))
        out.append(Conversion(str(name), entry.get("to"), tuple(attrs)))
    return tuple(out)


def convert_element(element: ET.Element, conversion: Conversion) -> None:
    """Turn an actuator's MJCF element (edited in place) into `conversion.to`, keeping the attributes both
    share; a <motor>'s symmetric forcerange becomes a dcmotor's saturation torque."""
    old, attrs = element.tag, dict(conversion.attrs)
    if "input" not in attrs:
        if old not in DEFAULT_INPUT:
            raise UserError(f"config: convert.{conversion.actuator}: give 'input' for a <{old}> actuator (e.g. ff, pos)")
        attrs["input"] = DEFAULT_INPUT[old]
    kept = {k: v for k, v in element.attrib.items() if k in COMMON_ATTRS or k in OWN_ATTRS[conversion.to]}
    if conversion.to == "dcmotor" and "saturation" not in attrs and element.get("forcerange"):
        lo, hi = (float(x) for x in element.get("forcerange").split())
        if element.get("forcelimited") != "false" and np.isclose(-lo, hi):
            attrs["saturation"] = f"{hi!r} 0 0"
    element.tag = conversion.to
    element.attrib.clear()
    element.attrib.update({**kept, **attrs})
