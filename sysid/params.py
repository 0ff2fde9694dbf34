"""Parameters: what a fit may change in a MuJoCo model, with bounds and a search transform.

`parse_params("friction,mass@upper", model)` turns the `--params` grammar (`KIND[@TARGET]`,
TARGET a name or glob) into a `ParamSet`: one `Param` record per fitted number, named
`KIND@TARGET` with the canonical kind (`frictionloss@elbow` even when the user typed
`friction`). A `ParamSet` maps values to a normalised search vector `u` in [0, 1]^n and back,
writes candidate values straight into `MjModel` arrays (no recompilation), and writes
final values into an `MjSpec` for export.
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import mujoco
import numpy as np

from sysid import contact, inertial, native
from sysid.errors import UserError

Element = Literal["joint", "body", "actuator", "geom", "global", "model", "sensor"]
Transform = Literal["log", "linear"]

# Log-transformed parameters whose lower bound is 0 are searched as log(value + floor) with
# floor = FLOOR_FRACTION * upper, so 0 stays reachable while the search stays log-like.
FLOOR_FRACTION = 1e-3


@dataclasses.dataclass(frozen=True)
class Kind:
    """One row of DESIGN.md's parameter table.

    Attributes:
      element: what TARGET names; "model" for numbers of an actuator model in the loop
        (`sysid.closedloop`), which live outside the MjModel (see `register_kind`).
      nonnegative: True for quantities that are >= 0 (searched in log space from 0);
        False for strictly positive scale-like ones (searched in log space from lower > 0);
        None for signed ones (searched linearly).
      fallback_upper: default upper bound when the model's value is 0 (units of the kind).
      unit: for reports.
    """

    element: Element
    nonnegative: bool | None
    fallback_upper: float
    unit: str


KINDS: dict[str, Kind] = {
    "damping": Kind("joint", True, 10.0, "N m s/rad"),
    "frictionloss": Kind("joint", True, 10.0, "N m"),
    "armature": Kind("joint", True, 1.0, "kg m^2"),
    "stiffness": Kind("joint", True, 1000.0, "N m/rad"),
    "mass": Kind("body", False, 0.0, "kg"),
    "inertia": Kind("body", False, 0.0, "x"),
    "com": Kind("body", None, 0.0, "m"),
    "kp": Kind("actuator", False, 0.0, "N m/rad"),
    "kv": Kind("actuator", True, 100.0, "N m s/rad"),
    "gear": Kind("actuator", None, 0.0, "x"),
    "delay": Kind("global", True, 0.1, "s"),
    # MuJoCo-native actuator parameters (sysid.native); ranges: `KIND@A` symmetric, `KIND@A.lo` / `.hi` one end
    "forcerange": Kind("actuator", False, 0.0, "N m"),
    "ctrlrange": Kind("actuator", False, 0.0, "ctrl"),
    "resistance": Kind("actuator", False, 0.0, "Ohm"),
    "motorconst": Kind("actuator", False, 0.0, "N m/A"),
    "ki": Kind("actuator", True, 0.0, "N m/(rad s)"),
    "kd": Kind("actuator", True, 0.0, "N m s/rad"),
    "imax": Kind("actuator", True, 0.0, "rad s"),
    "vmax": Kind("actuator", False, 0.0, "V"),
    # a body's whole inertial, physically consistent: ten log-Cholesky coordinates (sysid.inertial)
    "inertial": Kind("body", None, 0.0, "log-Cholesky"),
    # measurement parameters (sysid.measurement): applied to the simulated signals, never to the model
    "offset": Kind("joint", None, 0.0, "rad or m"),
    "sensor_gain": Kind("sensor", False, 0.0, "x"),
    "sensor_bias": Kind("sensor", None, 0.0, "sensor unit"),
    "sensor_delay": Kind("sensor", True, 0.1, "s"),
    # `spec:ELEMENT/NAME/ATTRIBUTE[INDEX]`: any numeric MjSpec attribute, recompiled (sysid.specfield)
    "spec": Kind("global", None, 0.0, "field unit"),
    # contact parameters (sysid.contact); `friction@JOINT` stays the alias of frictionloss
    "friction": Kind("geom", True, 1.0, "1"),
    "solref": Kind("geom", False, 0.0, "s | 1"),
    "impratio": Kind("global", False, 0.0, "1"),
}
MEASUREMENT_KINDS = ("offset", "sensor_gain", "sensor_bias", "sensor_delay")  # not written into any model
# Components a target may name with a suffix (`com@BODY.z`, `forcerange@A.lo`); bare: com's three axes,
# a range's symmetric limit (index 0).
PARTS = {"com": ("x", "y", "z"), "inertial": inertial.NAMES, "forcerange": native.RANGE_PARTS[1:],
         "ctrlrange": native.RANGE_PARTS[1:], **contact.GEOM_PARTS}
ALIASES = {"friction": "frictionloss"}
DEFAULT_RANGE_FACTOR = 10.0  # default bounds: [initial / 10, initial * 10] (or [0, 10 * initial])
AXES = "xyz"


def register_kind(name: str, kind: Kind) -> None:
    """Add a parameter kind, e.g. an actuator model's "kt" (element "model": written by nobody into
    the MjModel, read by `sysid.closedloop` from each candidate's values). Registering a name again
    with the same element and unit keeps the first registration; another element or unit is an error."""
    known = KINDS.get(name)
    if known is not None and (known.element, known.unit) != (kind.element, kind.unit):
        raise ValueError(f"parameter kind {name!r} is already registered as {known}, not {kind}")
    KINDS.setdefault(name, kind)


@dataclasses.dataclass(frozen=True)
class Param:
    """One fitted number.

    Attributes:
      name: canonical output name, e.g. "damping@elbow", "com@fore.x", "delay".
      kind: canonical kind (a key of KINDS).
      target: MJCF element name ("" for delay).
      index: component: com's axis 0..2; a range's 0 (symmetric), 1 (lo) or 2 (hi); else 0.
      initial: starting value, in the kind's unit.
      lower, upper: bounds, in the kind's unit.
      transform: "log" (search log(value + floor)) or "linear".
    """

    name: str
    kind: str
    target: str
    index: int
    initial: float
    lower: float
    upper: float
    transform: Transform

    def __post_init__(self):
        if not (np.isfinite(self.lower) and np.isfinite(self.upper) and self.lower < self.upper):
            raise UserError(f"parameter {self.name}: bounds must satisfy lower < upper, got [{self.lower}, {self.upper}]")
        if not self.lower <= self.initial <= self.upper:
            raise UserError(
                f"parameter {self.name}: initial value {self.initial:g} is outside its bounds "
                f"[{self.lower:g}, {self.upper:g}]; set 'initial' or the bounds in --config"
            )
        if self.transform == "log" and self.lower < 0:
            raise UserError(f"parameter {self.name}: a log-scaled parameter needs lower >= 0, got {self.lower}")

    @property
    def floor(self) -> float:
        """Offset added before the log so that a lower bound of 0 is reachable."""
        return FLOOR_FRACTION * self.upper if self.transform == "log" and self.lower == 0 else 0.0

    def to_z(self, value: np.ndarray | float) -> np.ndarray:
        return np.log(np.asarray(value) + self.floor) if self.transform == "log" else np.asarray(value, float)

    def from_z(self, z: np.ndarray | float) -> np.ndarray:
        return np.exp(z) - self.floor if self.transform == "log" else np.asarray(z, float)


class ParamSet(Sequence[Param]):
    """An ordered set of parameters and the normalised search space u in [0, 1]^n.

    u = (z - z(lower)) / (z(upper) - z(lower)) with z the parameter's transform, so every
    optimizer sees a unit box whatever the units and scales.
    """

    def __init__(self, params: Sequence[Param], *, model: mujoco.MjModel | None = None):
        """`model`: the input model the parameters refer to (default: the first model written)."""
        self.params = tuple(params)
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise UserError(f"parameter {dup} is listed twice in --params")
        self._zlo = np.array([p.to_z(p.lower) for p in self.params], float)
        self._zhi = np.array([p.to_z(p.upper) for p in self.params], float)
        # Writers take the model as an argument: every candidate copy shares the input's indices.
        self._writers = None if model is None else [_writer(model, p) for p in self.params]
        self._spec_index = [i for i, p in enumerate(self.params) if p.kind == "spec"]
        self._spec_fields = None  # sysid.specfield.SpecFields, made on the first write
        self._input = model

    def __len__(self) -> int:
        return len(self.params)

    def __getitem__(self, i):
        return self.params[i]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    @property
    def initial(self) -> np.ndarray:
        """(n,) initial values."""
        return np.array([p.initial for p in self.params])

    @property
    def lower(self) -> np.ndarray:
        return np.array([p.lower for p in self.params])

    @property
    def upper(self) -> np.ndarray:
        return np.array([p.upper for p in self.params])

    @property
    def delay_index(self) -> int | None:
        """Position of the `delay` parameter, or None when the delay is not fitted."""
        return next((i for i, p in enumerate(self.params) if p.kind == "delay"), None)

    def to_unit(self, values: np.ndarray) -> np.ndarray:
        """([B,] n) values -> ([B,] n) normalised search coordinates u."""
        z = np.stack([p.to_z(v) for p, v in zip(self.params, np.moveaxis(np.asarray(values, float), -1, 0))], -1)
        return (z - self._zlo) / (self._zhi - self._zlo)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """([B,] n) normalised coordinates -> ([B,] n) values (u clipped to [0, 1])."""
        z = self._zlo + np.clip(u, 0.0, 1.0) * (self._zhi - self._zlo)
        values = np.stack([p.from_z(zi) for p, zi in zip(self.params, np.moveaxis(z, -1, 0))], -1)
        return np.clip(values, self.lower, self.upper)

    def from_unit_unclipped(self, u: np.ndarray) -> np.ndarray:
        """Like `from_unit` but without clipping to the bounds (for intervals that reach past them)."""
        z = self._zlo + np.asarray(u, float) * (self._zhi - self._zlo)
        return np.stack([p.from_z(zi) for p, zi in zip(self.params, np.moveaxis(z, -1, 0))], -1)

    def value_per_unit(self, values: np.ndarray) -> np.ndarray:
        """(n,) derivative d value / d u at `values`, for propagating uncertainty."""
        span = self._zhi - self._zlo
        dv_dz = np.array([v + p.floor if p.transform == "log" else 1.0 for p, v in zip(self.params, values)])
        return dv_dz * span

    def write(self, model: mujoco.MjModel, values: np.ndarray, data: mujoco.MjData) -> None:
        """Write (n,) values into `model`'s arrays in place and refresh its derived constants.

        `data` is scratch for mj_setConst (masses and armature change the constants that the
        constraint solver uses; refreshing them makes a candidate match its exported MJCF).
        """
        if self._writers is None:
            self._writers = [_writer(model, p) for p in self.params]
        if self._spec_index:  # recompiled through MjSpec first: the other writers then write on top
            if self._spec_fields is None:
                from sysid.specfield import SpecFields

                self._spec_fields = SpecFields(self._input or model, [self.params[i] for i in self._spec_index])
            self._spec_fields.write(model, np.asarray(values, float)[self._spec_index])
        for write, value in zip(self._writers, values):
            write(model, float(value))
        mujoco.mj_setConst(model, data)

    def write_spec(self, spec: mujoco.MjSpec, model: mujoco.MjModel, values: np.ndarray) -> None:
        """Write (n,) final values into `spec` for export. `model` is the compiled input model,
        used to make body inertials explicit when a body parameter is fitted."""
        fitted = copy.copy(model)
        self.write(fitted, values, mujoco.MjData(fitted))
        for p, value in zip(self.params, values):
            if KINDS[p.kind].element == "actuator" and p.kind != "gear":
                native.write_spec(spec.actuator(p.target), fitted, model.actuator(p.target).id)
            elif p.kind in contact.GLOBAL or KINDS[p.kind].element == "geom":
                contact.write_spec(spec, fitted, p.kind, p.target)
            elif p.kind == "inertial":
                b, body = model.body(p.target).id, spec.body(p.target)
                body.explicitinertial, body.fullinertia = True, [np.nan] * 6
                body.mass, body.ipos, body.iquat, body.inertia = (
                    fitted.body_mass[b], fitted.body_ipos[b], fitted.body_iquat[b], fitted.body_inertia[b])
            else:
                _write_spec(spec, model, p, float(value))


def parse_params(text: str, model: mujoco.MjModel, *, overrides: Mapping[str, Mapping[str, Any]] | None = None,
                 extra: Sequence[Param] = ()) -> ParamSet:
    """Parse the `--params` grammar against `model`.

    Args:
      text: comma-separated `KIND[@TARGET]`, TARGET a name or a glob ("damping@*_knee").
      model: the compiled input model; initial values and default bounds come from it.
      overrides: optional `{pattern: {initial, lower, upper}}` from the fit config; the pattern
        is a glob over canonical names ("damping@*", "delay"), applied in order.
      extra: parameters from elsewhere, fitted too (an actuator model's, `sysid.closedloop`); `text`
        may then be empty.
    """
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items and not extra:
        raise UserError("--params is empty; give e.g. --params damping,frictionloss,mass")
    params: list[Param] = []
    for item in items:
        if item.startswith("spec:") or item == "spec":  # any numeric MjSpec attribute (sysid.specfield)
            from sysid.specfield import parse

            params.append(parse(item, model, overrides or {}))
            continue
        kind_text, _, target = item.partition("@")
        kind = ALIASES.get(kind_text.strip(), kind_text.strip())
        if kind_text.strip() == "friction" and target.strip() and contact.means_geom(target.strip(), model, item):
            kind = "friction"  # a geom's friction; on a joint it is frictionloss
        if kind not in KINDS:
            known = ", ".join(sorted({*(k for k, v in KINDS.items() if v.element != "model"), *ALIASES}))
            raise UserError(f"--params: unknown parameter kind {kind_text!r} in {item!r}; known kinds: {known}")
        if KINDS[kind].element == "model":
            raise UserError(f"--params: {item!r} is a number of an actuator model; fit it with --actuator MODEL@TARGET")
        params.extend(_expand(kind, target.strip(), model, item, overrides or {}))
    params = [_override(p, overrides or {}) for p in [*params, *extra]]
    if overrides:
        names = [p.name for p in params]
        for pattern in overrides:
            if not any(matches(n, pattern) for n in names):
                raise UserError(f"config: 'params' entry {pattern!r} matches none of the fitted parameters {names}")
    return ParamSet(params, model=model)


def matches(name: str, pattern: str) -> bool:
    """A config pattern names a parameter: the name itself (`spec:geom/foot/friction[0]`) or a glob over names."""
    return name == pattern or fnmatch.fnmatchcase(name, pattern)


def _expand(kind: str, target: str, model: mujoco.MjModel, item: str, overrides: Mapping[str, Mapping[str, Any]]) -> list[Param]:
    info = KINDS[kind]
    if info.element == "global":
        if target:
            raise UserError(f"--params: {kind!r} is global (one value for the model) and takes no target, got {item!r}")
        return [_make(kind, "", 0, contact.read(model, kind, "", 0) if kind in contact.GLOBAL else 0.0, model, overrides)]
    if info.element == "geom":
        names, indices = contact.expand(kind, target, model, item)
        return [_make(kind, name, index, contact.read(model, kind, name, index), model, overrides)
                for name in names for index in indices]
    parts = PARTS.get(kind, ())
    stem, _, suffix = target.rpartition(".")
    if stem and suffix in parts and target not in _all_names(info.element, model):
        target, indices = stem, [parts.index(suffix) + (kind in native.RANGE_KINDS)]
    else:
        indices = [0] if kind in native.RANGE_KINDS else list(range(len(parts))) or [0]
    candidates = _elements(kind, model)
    if target:
        names = [n for n in candidates if fnmatch.fnmatchcase(n, target)]
        if not names:
            all_names = _all_names(info.element, model)
            if target in all_names:
                raise UserError(f"--params: {item!r}: {info.element} {target!r} has no {kind} to fit ({_why_not(kind)})")
            raise UserError(
                f"--params: {item!r}: no {info.element} named {target!r} in the model; "
                f"{'bodies' if info.element == 'body' else info.element + 's'}: {', '.join(all_names) or '(none)'}"
            )
    else:  # a bare range kind covers the actuators that have that limit; name others to give them one
        names = [n for n in candidates if kind not in native.RANGE_KINDS or _read(model, kind, n, 0) > 0]
        if not names:
            raise UserError(f"--params: {item!r}: the model has no {info.element} with a {kind} to fit ({_why_not(kind)})")
    return [_make(kind, name, index, _read(model, kind, name, index), model, overrides) for name in names for index in indices]


def _why_not(kind: str) -> str:
    return {
        **native.WHY_NOT,
        "mass": "bodies welded to the world have nothing to identify",
        "inertia": "bodies welded to the world have nothing to identify",
        "com": "bodies welded to the world have nothing to identify",
    }.get(kind, "only hinge and slide joints")


def _all_names(element: Element, model: mujoco.MjModel) -> list[str]:
    count = {"joint": model.njnt, "body": model.nbody, "actuator": model.nactuator, "sensor": model.nsensor}[element]
    return [getattr(model, element)(i).name for i in range(count)]


def _elements(kind: str, model: mujoco.MjModel) -> list[str]:
    """Names of the elements that `kind` applies to, in model order."""
    element = KINDS[kind].element
    if element == "joint":
        scalar = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
        return [model.joint(j).name for j in range(model.njnt) if model.jnt_type[j] in scalar]
    if element == "body":
        return [model.body(b).name for b in range(1, model.nbody) if model.body_weldid[b] != 0]
    if element == "sensor":
        return [model.sensor(s).name for s in range(model.nsensor)]
    if kind == "gear":
        return [model.actuator(a).name for a in range(model.nactuator)]
    return [model.actuator(a).name for a in range(model.nactuator) if native.applies(model, a, kind)]


def _read(model: mujoco.MjModel, kind: str, name: str, index: int) -> float:
    if kind in MEASUREMENT_KINDS:  # an ideal measurement
        return 1.0 if kind == "sensor_gain" else 0.0
    if kind in ("damping", "frictionloss", "armature"):
        return float(getattr(model, f"dof_{kind}")[model.joint(name).dofadr[0]])
    if kind == "stiffness":
        return float(model.jnt_stiffness[model.joint(name).id])
    if kind == "mass":
        return float(model.body_mass[model.body(name).id])
    if kind == "inertia":
        return 1.0
    if kind == "inertial":
        return float(inertial.theta_from_body(model, model.body(name).id)[index])
    if kind == "com":
        return float(model.body_ipos[model.body(name).id, index])
    a = model.actuator(name).id
    return float(model.actuator_gear[a, 0]) if kind == "gear" else native.read(model, a, kind, index)


def _make(kind: str, target: str, index: int, initial: float, model: mujoco.MjModel,
          overrides: Mapping[str, Mapping[str, Any]]) -> Param:
    if KINDS[kind].element == "global":
        name = kind
    elif KINDS[kind].element == "geom":
        name = contact.param_name(kind, target, index)
    else:
        offset = int(kind in native.RANGE_KINDS)  # a range's index 0 is its symmetric limit
        name = f"{kind}@{target}" + (f".{PARTS[kind][index - offset]}" if kind in PARTS and index >= offset else "")
    # A starting point from the config counts before the default bounds (a limit the model lacks reads 0).
    given = [v["initial"] for pattern, v in overrides.items() if "initial" in v and matches(name, pattern)]
    if given:
        try:
            initial = float(given[-1])
        except (TypeError, ValueError):
            raise UserError(f"config: params.{name}.initial must be a number, got {given[-1]!r}") from None
    lower, upper, transform = _default_bounds(name, kind, initial, com_half=0.1 * float(model.stat.extent), index=index)
    return Param(name, kind, target, index, initial, lower, upper, transform)


def _default_bounds(name: str, kind: str, initial: float, *, com_half: float, index: int = 0) -> tuple[float, float, Transform]:
    """Default (lower, upper, transform) around `initial`: a factor of 10 either way, from 0 for
    nonnegative kinds, +-com_half (m) for com; one end of a range moves by a factor of 10 away from 0."""
    info = KINDS[kind]
    if kind == "com":
        return initial - com_half, initial + com_half, "linear"
    if kind in ("offset", "sensor_bias"):  # +-0.2 rad (m) of encoder offset, +-1 sensor unit of bias
        half = 0.2 if kind == "offset" else 1.0
        return initial - half, initial + half, "linear"
    if kind == "sensor_gain" and initial > 0:
        return initial / 2, initial * 2, "log"
    if kind == "inertial":  # alpha, d: mass and lengths within ~10x; t: the com; shears: a body's size
        half = 1.15 if index < 4 else com_half if index >= 7 else max(com_half, 2 * abs(initial))
        return initial - half, initial + half, "linear"
    if kind in native.RANGE_KINDS and (initial == 0 or index):
        if initial == 0:
            raise UserError(f"{name}: the actuator has no {kind} to start from; set params: {{{name}: {{initial: ...}}}} "
                            "in --config")
        lo, hi = sorted((initial / DEFAULT_RANGE_FACTOR, initial * DEFAULT_RANGE_FACTOR))
        return (lo, hi, "log") if initial > 0 else (lo, hi, "linear")
    if info.nonnegative is None:  # gear: a signed scale
        if initial == 0:
            raise UserError(f"{name}: the model's value is 0; a gear of 0 cannot be scaled")
        lo, hi = sorted((initial / DEFAULT_RANGE_FACTOR, initial * DEFAULT_RANGE_FACTOR))
        return lo, hi, "log" if initial > 0 else "linear"
    if info.nonnegative:
        return 0.0, initial * DEFAULT_RANGE_FACTOR if initial > 0 else info.fallback_upper, "log"
    if initial <= 0:
        raise UserError(f"{name}: the value is {initial:g}; it must be positive to be fitted")
    return initial / DEFAULT_RANGE_FACTOR, initial * DEFAULT_RANGE_FACTOR, "log"


def _override(p: Param, overrides: Mapping[str, Mapping[str, Any]]) -> Param:
    fields: dict[str, float] = {}
    for pattern, entry in overrides.items():
        if matches(p.name, pattern):
            for key, value in entry.items():
                if key not in ("initial", "lower", "upper"):
                    raise UserError(f"config: params.{pattern}: unknown key {key!r}; use initial, lower, upper")
                try:
                    fields[key] = float(value)
                except (TypeError, ValueError):
                    raise UserError(f"config: params.{pattern}.{key} must be a number, got {value!r}") from None
    if not fields:
        return p
    if "initial" in fields and "lower" not in fields and "upper" not in fields:
        # A starting point given alone moves the default range with it.
        lower, upper, _ = _default_bounds(p.name, p.kind, fields["initial"], com_half=(p.upper - p.lower) / 2, index=p.index)
        fields = {"lower": lower, "upper": upper, **fields}
    return dataclasses.replace(p, **fields)


def _writer(model: mujoco.MjModel, p: Param) -> Callable[[mujoco.MjModel, float], None]:
    """A closure writing one value of `p` into any copy of `model` (indices are looked up once)."""
    kind = p.kind
    if kind in ("delay", "spec") or kind in MEASUREMENT_KINDS or KINDS[kind].element == "model":
        return lambda m, v: None  # applied by sysid.sim (delay) or sysid.closedloop, not to the model
    if kind in contact.GLOBAL or KINDS[kind].element == "geom":
        return contact.writer(model, kind, p.target, p.index)
    if kind in ("damping", "frictionloss", "armature", "stiffness"):
        field = "jnt_stiffness" if kind == "stiffness" else f"dof_{kind}"
        i = model.joint(p.target).id if kind == "stiffness" else model.joint(p.target).dofadr[0]
        return lambda m, v: getattr(m, field).__setitem__(i, v)
    if kind == "mass":
        b = model.body(p.target).id
        return lambda m, v: m.body_mass.__setitem__(b, v)
    if kind == "com":
        b, axis = model.body(p.target).id, p.index
        return lambda m, v: m.body_ipos.__setitem__((b, axis), v)
    if kind == "inertial":
        return inertial.writer(model.body(p.target).id, p.index)
    if kind == "inertia":
        b = model.body(p.target).id
        base = model.body_inertia[b].copy()  # the input model's tensor, which the factor scales
        return lambda m, v: m.body_inertia.__setitem__(b, base * v)
    a = model.actuator(p.target).id
    if kind == "gear":
        return lambda m, v: m.actuator_gear.__setitem__((a, 0), v)
    return native.writer(model, a, kind, p.index)


def _set_first(obj: Any, attr: str, value: float) -> None:
    """Set a spec attribute that is a scalar in some MuJoCo versions and an array in others."""
    current = getattr(obj, attr)
    if np.ndim(current):
        current = np.array(current, float)
        current[0] = value
        setattr(obj, attr, current)
    else:
        setattr(obj, attr, value)


def _write_spec(spec: mujoco.MjSpec, model: mujoco.MjModel, p: Param, value: float) -> None:
    if p.kind == "spec":
        from sysid.specfield import write_spec

        write_spec(spec, p, value)
        return
    if p.kind == "delay" or p.kind in MEASUREMENT_KINDS or KINDS[p.kind].element == "model":
        return
    if KINDS[p.kind].element == "joint":
        _set_first(spec.joint(p.target), p.kind, value)
    elif KINDS[p.kind].element == "body":
        body = spec.body(p.target)
        if not body.explicitinertial:
            # Freeze the compiled inertial so that only the fitted quantity changes on recompilation.
            b = model.body(p.target).id
            body.explicitinertial = True
            body.mass, body.ipos, body.iquat = model.body_mass[b], model.body_ipos[b], model.body_iquat[b]
            body.inertia, body.fullinertia = model.body_inertia[b], [np.nan] * 6
        if p.kind == "mass":
            body.mass = value
        elif p.kind == "com":
            ipos = np.array(body.ipos, float)
            ipos[p.index] = value
            body.ipos = ipos
        else:
            b = model.body(p.target).id
            body.inertia, body.fullinertia = model.body_inertia[b] * value, [np.nan] * 6
    else:  # gear (the other actuator kinds copy the fitted arrays: sysid.native.write_spec)
        act = spec.actuator(p.target)
        gear = np.array(act.gear, float)
        gear[0] = value
        act.gear = gear
