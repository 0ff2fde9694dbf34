"""Contact parameters: geom friction and solref, and the global `impratio` (`sysid.params` kinds).

* `friction@GEOM`: the sliding friction (`geom_friction[g, 0]`); `friction@GEOM.1` the torsional and
  `friction@GEOM.2` the rolling one. `friction@JOINT` stays the alias of `frictionloss@JOINT`: the
  target decides, a geom name (or glob matching geoms only) means the geom, a joint name the joint.
  A name that is both is refused; write `frictionloss@NAME` for the joint or `friction@NAME.0` for
  the geom.
* `solref@GEOM`: both numbers of `geom_solref` (`.0` time constant in s, `.1` damping ratio);
  `solref@GEOM.0` or `.1` alone is one.
* `impratio`: `opt.impratio`, the ratio of frictional to normal constraint impedance.

MuJoCo combines the two geoms of a contact: the larger friction wins (unless `priority` says
otherwise), solref is averaged by `solmix`. Fit the geoms whose values the contacts take (feet,
with a floor of lower friction). Only named geoms can be fitted.
"""

from __future__ import annotations

import fnmatch
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import mujoco
import numpy as np

from sysid.errors import UserError

GEOM_PARTS = {"friction": ("0", "1", "2"), "solref": ("0", "1")}
"""Suffixes of the geom kinds: `friction@G.1` (torsional), `solref@G.0` (time constant)."""
BARE = {"friction": (0,), "solref": (0, 1)}  # the components `KIND@GEOM` without a suffix fits
GLOBAL = {"impratio": "impratio"}  # global kind -> its MjOption field
NAMES_SHOWN = 20


def geom_names(model: mujoco.MjModel) -> list[str]:
    """The named geoms, in model order."""
    return [model.geom(g).name for g in range(model.ngeom) if model.geom(g).name]


def means_geom(target: str, model: mujoco.MjModel, item: str) -> bool:
    """Whether `friction@target` is a geom's friction (True) or a joint's frictionloss (False).

    Raises UserError for a target that names both a joint and a geom, or neither.
    """
    geoms = geom_names(model)
    joints = [model.joint(j).name for j in range(model.njnt)]
    stem, _, suffix = target.rpartition(".")
    if stem and suffix in GEOM_PARTS["friction"] and target not in geoms and target not in joints:
        return True  # friction@GEOM.1: only geoms have components
    on_geoms = any(fnmatch.fnmatchcase(g, target) for g in geoms)
    on_joints = any(fnmatch.fnmatchcase(j, target) for j in joints)
    if on_geoms and on_joints:
        raise UserError(f"--params: {item!r}: {target!r} names both a joint and a geom; write frictionloss@{target} for "
                        f"the joint's friction loss or friction@{target}.0 for the geom's sliding friction")
    if not on_geoms and not on_joints:
        raise UserError(f"--params: {item!r}: no joint or geom named {target!r} in the model; joints: "
                        f"{_listed(joints)}; geoms: {_listed(geoms)}")
    return on_geoms


def expand(kind: str, target: str, model: mujoco.MjModel, item: str) -> tuple[list[str], list[int]]:
    """The geoms and components `KIND@TARGET` covers (TARGET a name, glob, or empty: every colliding named geom).

    Raises UserError naming the target and listing the geoms when none matches.
    """
    geoms = geom_names(model)
    stem, _, suffix = target.rpartition(".")
    if stem and suffix in GEOM_PARTS[kind] and target not in geoms:
        target, indices = stem, [int(suffix)]
    else:
        indices = list(BARE[kind])
    if not target:
        names = [n for n in geoms if model.geom_contype[model.geom(n).id] or model.geom_conaffinity[model.geom(n).id]]
        if not names:
            raise UserError(f"--params: {item!r}: the model has no named geom that collides")
        return names, indices
    names = [n for n in geoms if fnmatch.fnmatchcase(n, target)]
    if not names:
        raise UserError(f"--params: {item!r}: no geom named {target!r} in the model; geoms: {_listed(geoms)}")
    return names, indices


def param_name(kind: str, target: str, index: int) -> str:
    """Canonical name: `friction@G` (sliding), `friction@G.1`, `friction@G.2`, `solref@G.0`, `solref@G.1`."""
    return f"{kind}@{target}" if kind == "friction" and index == 0 else f"{kind}@{target}.{index}"


def read(model: mujoco.MjModel, kind: str, target: str, index: int) -> float:
    """The model's value of a contact parameter (target "" for a global one)."""
    if kind in GLOBAL:
        return float(getattr(model.opt, GLOBAL[kind]))
    return float(getattr(model, f"geom_{kind}")[model.geom(target).id, index])


def writer(model: mujoco.MjModel, kind: str, target: str, index: int) -> Callable[[mujoco.MjModel, float], None]:
    """A closure writing one value into any copy of `model`."""
    if kind in GLOBAL:
        field = GLOBAL[kind]
        return lambda m, v: setattr(m.opt, field, v)
    g, field = model.geom(target).id, f"geom_{kind}"
    return lambda m, v: getattr(m, field).__setitem__((g, index), v)


def write_spec(spec: mujoco.MjSpec, fitted: mujoco.MjModel, kind: str, target: str) -> None:
    """Copy a fitted contact value from `fitted` (the model with every value written) into `spec`."""
    if kind in GLOBAL:
        setattr(spec.option, GLOBAL[kind], float(getattr(fitted.opt, GLOBAL[kind])))
    else:
        setattr(spec.geom(target), kind, getattr(fitted, f"geom_{kind}")[fitted.geom(target).id].copy())


def patch(root: ET.Element, fitted: mujoco.MjModel, kind: str, target: str, fmt: Callable[[Any], str]) -> None:
    """Write a fitted contact value into the parsed MJCF `root` (the whole attribute, every component).

    Raises ValueError when the geom is not in the main file.
    """
    if kind in GLOBAL:
        option = root.find("option")
        if option is None:
            option = ET.Element("option")
            option.tail = "\n  "
            root.insert(0, option)
        option.set(GLOBAL[kind], fmt(getattr(fitted.opt, GLOBAL[kind])))
        return
    element = next((e for e in root.iter("geom") if e.get("name") == target), None)
    if element is None:
        raise ValueError(f"no <geom name={target!r}> in the main MJCF file (is it in an <include>d file?)")
    values = getattr(fitted, f"geom_{kind}")[fitted.geom(target).id]
    element.set(kind, " ".join(fmt(v) for v in np.asarray(values, float)))


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    return (shown + f", ... ({len(names)} in all)" if len(names) > NAMES_SHOWN else shown) or "(none)"
