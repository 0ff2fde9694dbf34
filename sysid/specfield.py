"""`spec:ELEMENT/NAME/ATTRIBUTE[INDEX]` parameters: any numeric attribute that MjSpec can set.

`spec:body/link1/mass`, `spec:geom/foot/friction[0]`, `spec:actuator/m1/gear[0]`,
`spec:option//impratio`. Bounds are required in the fit config (`params: {NAME: {lower, upper}}`),
since nothing is known about an arbitrary field's scale. A candidate is built by setting the
attributes on the input's MjSpec and recompiling (the compiled model is cached by the values, so an
unchanged candidate is not recompiled), then copying the arrays that any spec value changed into
the candidate's model. The exported MJCF gets the values through MjSpec like every other kind.

The model's MjSpec comes from the file it was loaded from: `sysid.model.load_model` (and the URDF
loader) register it with `remember_spec`.
"""

from __future__ import annotations

import collections
import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import mujoco
import numpy as np

from sysid.errors import UserError

PREFIX = "spec:"
ELEMENTS = ("body", "joint", "geom", "site", "actuator", "sensor", "tendon", "equality", "camera", "light",
            "material", "pair", "exclude", "option")
_PATH = re.compile(r"spec:([a-z]+)/([^/]*)/([A-Za-z_0-9]+)(?:\[(\d+)\])?")
_CACHE_SIZE = 64  # compiled candidates kept
_SPECS: dict[int, tuple[mujoco.MjModel, Callable[[], mujoco.MjSpec]]] = {}


def remember_spec(model: mujoco.MjModel, make_spec: Callable[[], mujoco.MjSpec]) -> None:
    """Record how to rebuild `model`'s MjSpec (the model is kept alive so its id stays unique)."""
    _SPECS[id(model)] = (model, make_spec)


def spec_of(model: mujoco.MjModel, item: str) -> mujoco.MjSpec:
    """A fresh MjSpec of `model`, or UserError naming `item` when the model was not loaded from a file."""
    known = _SPECS.get(id(model))
    if known is None or known[0] is not model:
        raise UserError(f"--params: {item!r}: spec: parameters need the model loaded from its file (sysid.load_model)")
    return known[1]()


def parse(item: str, model: mujoco.MjModel, overrides: Mapping[str, Mapping[str, Any]]):
    """One `spec:` parameter of `--params`, its bounds from the config's `overrides`.

    Raises UserError naming the path (and close names) when the element or attribute does not
    exist or is not a number, and when the config gives no bounds.
    """
    from sysid.params import Param

    m = _PATH.fullmatch(item)
    if m is None:
        raise UserError(f"--params: {item!r}: write spec:ELEMENT/NAME/ATTRIBUTE[INDEX], e.g. spec:geom/foot/friction[0] "
                        "or spec:option//impratio")
    element, name, attr, index_text = m.groups()
    spec = spec_of(model, item)
    obj = _element(spec, element, name, item)
    value = getattr(obj, attr, None)
    numeric = sorted(a for a in dir(obj) if not a.startswith("_") and _is_number(getattr(obj, a, None)))
    if not _is_number(value):
        close = difflib.get_close_matches(attr, numeric, n=4, cutoff=0.5)
        raise UserError(f"--params: {item!r}: {element} {name!r} has no numeric attribute {attr!r}; "
                        f"{'did you mean ' + ', '.join(close) if close else 'numeric attributes: ' + ', '.join(numeric)}")
    array = np.atleast_1d(np.asarray(value, float))
    index = int(index_text) if index_text is not None else 0
    if index_text is None and array.size > 1:
        raise UserError(f"--params: {item!r}: {attr} has {array.size} numbers; name one, e.g. {item}[0]")
    if index >= array.size:
        raise UserError(f"--params: {item!r}: {attr} has {array.size} number(s); index {index} is out of range")
    if element == "option" and attr == "timestep":
        raise UserError(f"--params: {item!r}: the timestep cannot be fitted (windows are cut on it)")
    canonical = f"spec:{element}/{name}/{attr}" + (f"[{index}]" if array.size > 1 else "")
    given = {k: v for pattern, entry in overrides.items() if pattern == canonical or pattern == item for k, v in entry.items()}
    if "lower" not in given or "upper" not in given:
        raise UserError(f"--params: {canonical}: bounds are required for spec: fields; set "
                        f"params: {{'{canonical}': {{lower: ..., upper: ...}}}} in --config")
    initial = float(given.get("initial", array[index]))
    return Param(canonical, "spec", canonical[len(PREFIX):], index, initial, float(given["lower"]), float(given["upper"]), "linear")


class SpecFields:
    """Writes the `spec:` parameters of a candidate into a model copy by recompiling the MjSpec.

    Args:
      model: the compiled input model.
      params: the `spec:` parameters, in the order their values are given.
    """

    def __init__(self, model: mujoco.MjModel, params: Sequence):
        self.params = list(params)
        self.base = model
        self.spec = spec_of(model, self.params[0].name)
        self._compiled: collections.OrderedDict[tuple, mujoco.MjModel] = collections.OrderedDict()
        self._changed: set[str] = set()  # MjModel arrays any compiled candidate changed
        self._options: set[str] = set()  # mjOption fields any compiled candidate changed

    def write(self, model: mujoco.MjModel, values: np.ndarray) -> None:
        """Copy the model compiled with (k,) `values` into `model` (a copy of the input), in place."""
        compiled = self.compiled(values)
        for name in self._changed:
            getattr(model, name)[...] = getattr(compiled, name)
        for name in self._options:
            setattr(model.opt, name, getattr(compiled.opt, name))

    def compiled(self, values: np.ndarray) -> mujoco.MjModel:
        """The input model with (k,) `values` set through MjSpec, compiled (cached)."""
        key = tuple(float(v) for v in values)
        if key in self._compiled:
            self._compiled.move_to_end(key)
            return self._compiled[key]
        for p, v in zip(self.params, key):
            write_spec(self.spec, p, v)
        try:
            compiled = self.spec.compile()
        except ValueError as error:
            raise UserError(f"spec: values {dict(zip((p.name for p in self.params), key))} do not compile: "
                            f"{' '.join(str(error).split())}; narrow their bounds in --config") from None
        self._changed |= _changed_arrays(self.base, compiled)
        self._options |= {f for f in _OPTION_FIELDS if np.any(getattr(self.base.opt, f) != getattr(compiled.opt, f))}
        self._compiled[key] = compiled
        if len(self._compiled) > _CACHE_SIZE:
            self._compiled.popitem(last=False)
        return compiled


def write_spec(spec: mujoco.MjSpec, p, value: float) -> None:
    """Set the attribute of `spec:` parameter `p` to `value` in `spec`."""
    element, name, rest = p.target.split("/", 2)
    attr = rest.split("[")[0]
    obj = spec.option if element == "option" else getattr(spec, element)(name)
    current = getattr(obj, attr)
    if np.ndim(current):
        array = np.array(current, float)
        array.flat[p.index] = value
        setattr(obj, attr, array)
    else:
        setattr(obj, attr, type(current)(value) if isinstance(current, int) and not isinstance(current, bool) else value)


_OPTION_FIELDS = ("impratio", "tolerance", "ls_tolerance", "noslip_tolerance", "ccd_tolerance", "density", "viscosity",
                  "o_margin", "gravity", "wind", "magnetic", "o_solref", "o_solimp", "o_friction")


def _element(spec: mujoco.MjSpec, element: str, name: str, item: str):
    if element not in ELEMENTS:
        close = difflib.get_close_matches(element, ELEMENTS, n=3, cutoff=0.5)
        raise UserError(f"--params: {item!r}: unknown element {element!r}; "
                        f"{'did you mean ' + ', '.join(close) if close else 'elements: ' + ', '.join(ELEMENTS)}")
    if element == "option":
        return spec.option
    plural = {"body": "bodies", "equality": "equalities"}.get(element, element + "s")
    names = [e.name for e in getattr(spec, plural) if e.name]
    if name not in names:
        close = difflib.get_close_matches(name, names, n=4, cutoff=0.4)
        raise UserError(f"--params: {item!r}: no {element} named {name!r} in the model; "
                        f"{'did you mean ' + ', '.join(map(repr, close)) if close else element + 's: ' + (', '.join(names) or '(none named)')}")
    return getattr(spec, element)(name)


def _is_number(value: object) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, np.ndarray) and value.dtype.kind in "fiu" and value.size > 0


def _changed_arrays(a: mujoco.MjModel, b: mujoco.MjModel) -> set[str]:
    """Names of the numeric MjModel arrays that differ between a and b (same shapes required)."""
    changed = set()
    for name in dir(b):
        value = getattr(b, name, None)
        if name.startswith("_") or not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
            continue
        other = getattr(a, name)
        if other.shape != value.shape:
            raise UserError(f"spec: the recompiled model changed shape ({name}: {other.shape} -> {value.shape}); "
                            "only fields that keep the model's structure can be fitted")
        if not np.array_equal(other, value, equal_nan=True):
            changed.add(name)
    return changed
