"""Writing fitted values into the user's MJCF text, keeping everything else as it was.

`MjSpec.to_xml` rewrites every number of a model with 6 significant digits, so a model saved
through it differs from the input everywhere. Instead, `patch_mjcf` edits only the attributes
of the fitted elements in the parsed XML tree (full float precision), then the caller checks
that the patched file compiles to exactly the fitted model.
"""

from __future__ import annotations

import copy
import os
import pathlib
import xml.etree.ElementTree as ET
from collections.abc import Sequence

import mujoco
import numpy as np

from sysid import contact, native
from sysid.errors import UserError
from sysid.params import KINDS, MEASUREMENT_KINDS, Param, ParamSet

ASSET_DIRS = ("meshdir", "texturedir", "assetdir")


class PatchError(Exception):
    """The MJCF cannot be patched in place (element in an included file, unsupported form)."""


def patch_mjcf(model_path: str | os.PathLike, model: mujoco.MjModel, params: ParamSet, values: np.ndarray,
               conversions: Sequence[native.Conversion] = ()) -> str:
    """The text of `model_path` with (n,) `values` written into the fitted elements.

    Relative asset folders and include files become absolute, so the result loads from any folder.
    `model` is the compiled input; bodies with fitted mass, inertia or centre of mass get an
    explicit <inertial> holding their compiled inertial with the fitted values in. A fitted delay
    becomes MuJoCo's actuator delay on every actuator (`sysid.native`). `conversions` turn
    actuators into dcmotor / pid ones first (`model` is then the converted model).
    """
    root = _converted_root(model_path, conversions)
    fitted = copy.copy(model)
    params.write(fitted, values, mujoco.MjData(fitted))
    native_kinds: dict[str, set[str]] = {}  # actuator -> its fitted kinds other than gear
    bodies_done: set[str] = set()
    for p in params:
        if p.kind == "delay":
            _write_delay(root, model, float(values[params.names.index(p.name)]))
            continue
        if p.kind in MEASUREMENT_KINDS:  # measurement parameters live in result.json only
            continue
        if p.kind == "spec":  # an MjSpec attribute may have no XML attribute of its name: written through MjSpec
            raise PatchError(f"{p.name} is written through MjSpec")
        element = KINDS[p.kind].element
        if element == "geom" or p.kind in contact.GLOBAL:
            try:
                contact.patch(root, fitted, p.kind, p.target, _fmt)
            except ValueError as error:
                raise PatchError(str(error)) from None
        elif element == "joint":
            _set_first(_named(root, "joint", p.target), p.kind, float(values[params.names.index(p.name)]))
        elif element == "body" and p.target not in bodies_done:
            _write_inertial(root, fitted, p.target)
            bodies_done.add(p.target)
        elif element == "actuator" and p.kind == "gear":
            _write_gear(root, model, p, float(values[params.names.index(p.name)]))
        elif element == "actuator":
            native_kinds.setdefault(p.target, set()).add(p.kind)
    for name, kinds in native_kinds.items():
        try:
            native.patch_element(_actuator(root, name), fitted, model.actuator(name).id, kinds)
        except ValueError as error:
            raise PatchError(f"actuator {name!r}: {error}") from None
    return _text(model_path, root)


def converted_model(model_path: str | os.PathLike, conversions: Sequence[native.Conversion]) -> tuple[mujoco.MjModel, str]:
    """The model of `model_path` with actuators turned into dcmotor / pid ones, and its MJCF text.
    Raises UserError naming the actuator when one is missing or the result does not compile."""
    if not os.path.isfile(model_path):
        raise UserError(f"{model_path}: model file not found")
    try:
        text = _text(model_path, _converted_root(model_path, conversions))
    except PatchError as error:
        raise UserError(f"config: convert: {error}") from None
    try:
        return mujoco.MjModel.from_xml_string(text), text
    except ValueError as error:
        message = " ".join(str(error).split())
        raise UserError(f"config: convert: the converted model does not compile: {message}") from None


def _converted_root(model_path: str | os.PathLike, conversions: Sequence[native.Conversion]) -> ET.Element:
    """The parsed MJCF with absolute asset paths and the conversions applied."""
    path = pathlib.Path(model_path).resolve()
    try:
        tree = ET.parse(path, parser=ET.XMLParser(target=ET.TreeBuilder(insert_comments=True)))
    except ET.ParseError as error:
        raise PatchError(f"cannot parse {path}: {error}") from None
    root = tree.getroot()
    _absolute_paths(root, path.parent)
    for conversion in conversions:
        native.convert_element(_actuator(root, conversion.actuator), conversion)
    return root


def _text(model_path: str | os.PathLike, root: ET.Element) -> str:
    """`root` as MJCF text, after the original file's prolog (XML declaration, comments)."""
    text = pathlib.Path(model_path).read_text(encoding="utf-8")
    start = text.find(f"<{root.tag}")
    prolog = text[:start] if start > 0 else ""
    return prolog + ET.tostring(root, encoding="unicode") + "\n"


def _named(root: ET.Element, tag: str, name: str) -> ET.Element:
    for element in root.iter(tag):
        if element.get("name") == name:
            return element
    raise PatchError(f"no <{tag} name={name!r}> in the main MJCF file (is it in an <include>d file?)")


def _actuator(root: ET.Element, name: str) -> ET.Element:
    for section in root.iter("actuator"):
        for element in section:
            if element.get("name") == name:
                return element
    raise PatchError(f"no actuator named {name!r} in the main MJCF file")


def _fmt(value: float) -> str:
    return repr(float(value))


def _set_first(element: ET.Element, attr: str, value: float) -> None:
    """Set the first number of an attribute (some take several, e.g. damping polynomials)."""
    parts = (element.get(attr) or "").split()
    element.set(attr, " ".join([_fmt(value), *parts[1:]]))


def _write_inertial(root: ET.Element, fitted: mujoco.MjModel, body_name: str) -> None:
    """Replace a body's <inertial> with the fitted model's (explicit, full precision)."""
    b = fitted.body(body_name).id
    mass, ipos, inertia = float(fitted.body_mass[b]), fitted.body_ipos[b], fitted.body_inertia[b]
    body = _named(root, "body", body_name)
    old = body.find("inertial")
    index = list(body).index(old) if old is not None else 0
    if old is not None:
        body.remove(old)
    inertial = ET.Element("inertial", {
        "pos": " ".join(map(_fmt, ipos)),
        "quat": " ".join(map(_fmt, fitted.body_iquat[b])),
        "mass": _fmt(mass),
        "diaginertia": " ".join(map(_fmt, inertia)),
    })
    inertial.tail = old.tail if old is not None else body.text
    body.insert(index, inertial)


def _write_gear(root: ET.Element, model: mujoco.MjModel, p: Param, value: float) -> None:
    gear = model.actuator_gear[model.actuator(p.target).id].copy()
    gear[0] = value
    _actuator(root, p.target).set("gear", " ".join(map(_fmt, gear)))


def _write_delay(root: ET.Element, model: mujoco.MjModel, delay: float) -> None:
    if delay <= 0:
        return
    for a, (nsample, total) in enumerate(native.delay_settings(model, delay)):
        element = _actuator(root, model.actuator(a).name) if model.actuator(a).name else None
        if element is None:
            raise PatchError(f"actuator {a} has no name: the delay cannot be written into its element")
        element.set("nsample", str(nsample))
        element.set("interp", "linear")
        element.set("delay", _fmt(total))


def _absolute_paths(root: ET.Element, base: pathlib.Path) -> None:
    """Make relative asset folders, asset files and includes absolute (they were relative to `base`)."""
    dirs: dict[str, str] = {}
    for compiler in root.iter("compiler"):
        for attr in ASSET_DIRS:
            folder = compiler.get(attr)
            if folder is not None:
                if not os.path.isabs(folder):
                    compiler.set(attr, str(base / folder))
                dirs[attr] = folder
    for element in root.iter():
        file = element.get("file")
        if not isinstance(element.tag, str) or file is None or os.path.isabs(file):
            continue
        folder_attr = "texturedir" if element.tag == "texture" else "meshdir"
        if element.tag == "include" or not (dirs.get(folder_attr) or dirs.get("assetdir")):
            element.set("file", str(base / file))
