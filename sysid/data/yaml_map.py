"""Reading the small YAML map files of the MCAP and LeRobot loaders: keys, names, renames, factors.

Every mistake raises `UserError` naming the map file and the key.
"""

from __future__ import annotations

import math
import os

import numpy as np
from sysid.data.mapfile import split_signal_name
from sysid.errors import UserError
from sysid.inputs import excerpt, load_yaml


def read_yaml_map(path: str | os.PathLike, keys: tuple[str, ...]) -> dict[str, object]:
    """The top-level mapping of a YAML map file; keys outside `keys` raise."""
    source = os.fspath(path)
    doc = load_yaml(source, what="map file")
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise UserError(f"{source}: expected a mapping with keys {', '.join(keys)}; got a YAML {type(doc).__name__}")
    unknown = [k for k in doc if k not in keys]
    if unknown:
        raise UserError(f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(keys)}")
    return doc


def text(where: str, value: object) -> str:
    """A non-empty string option."""
    if not isinstance(value, str) or not value:
        raise UserError(f"{where}: expected a name, got {excerpt(value)}")
    return value


def choice(where: str, value: object, options: tuple[str, ...]) -> str:
    """One of `options`."""
    if value not in options:
        raise UserError(f"{where}: expected one of {', '.join(options)}, got {excerpt(value)}")
    return value  # type: ignore[return-value]


def name_list(where: str, value: object, *, allow_none: bool = False) -> tuple[str | None, ...]:
    """A list of names (`null` entries allowed with `allow_none`, meaning "skip this element")."""
    if not isinstance(value, list) or not value:
        raise UserError(f"{where}: expected a non-empty list of names, got {excerpt(value)}")
    for i, item in enumerate(value):
        if not (isinstance(item, str) and item) and not (allow_none and item is None):
            raise UserError(f"{where}: item {i + 1} must be a name{' or null' if allow_none else ''}, got {excerpt(item)}")
    named = [v for v in value if v is not None]
    duplicates = sorted({v for v in named if named.count(v) > 1})
    if duplicates:
        raise UserError(f"{where}: duplicate name(s) {', '.join(map(repr, duplicates))}")
    return tuple(value)


def renames(where: str, value: object) -> dict[str, str]:
    """A `{old: new}` mapping of names."""
    if not isinstance(value, dict):
        raise UserError(f"{where}: expected a mapping {{NAME_IN_LOG: MJCF_NAME}}, got {excerpt(value)}")
    for old, new in value.items():
        if not isinstance(old, str) or not isinstance(new, str) or not old or not new:
            raise UserError(f"{where}: entry {excerpt(old)}: expected a name mapped to a name, got {excerpt(new)}")
    return dict(value)


def factors(where: str, value: object) -> dict[str, float]:
    """A `{SIGNAL: number}` mapping, SIGNAL being `NAME.pos|vel|effort|ctrl`."""
    if not isinstance(value, dict):
        raise UserError(f"{where}: expected a mapping {{SIGNAL: number}}, got {excerpt(value)}")
    out = {}
    for signal, number in value.items():
        if not isinstance(signal, str) or split_signal_name(signal) in (None, ("time", "")):
            raise UserError(f"{where}: {excerpt(signal)} is not a signal name; expected NAME.pos, NAME.vel, NAME.effort or NAME.ctrl")
        try:
            if isinstance(number, bool):
                raise ValueError
            out[signal] = float(number)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise UserError(f"{where}: {signal}: expected a number, got {excerpt(number)}") from None
        if not math.isfinite(out[signal]):
            raise UserError(f"{where}: {signal}: expected a finite number, got {excerpt(number)}")
    return out


def apply_factors(
    where: str, signals: dict[str, dict[str, np.ndarray]], scale: dict[str, float], offset: dict[str, float]
) -> None:
    """`signals[kind][name] = scale * value + offset` in place, for the `NAME.kind` keys given.

    Args:
      where: the map file and key, for messages.
      signals: kind (`pos`, `vel`, `effort`, `ctrl`) -> name -> (N,) values.
      scale, offset: signal name -> factor / offset; a signal not in `signals` raises.
    """
    for option, table in (("scale", scale), ("offset", offset)):
        for signal in table:
            kind, name = split_signal_name(signal)  # type: ignore[misc]
            if name not in signals[kind]:
                logged = [f"{n}.{k}" for k in signals for n in signals[k]]
                raise UserError(f"{where}: {option}: {excerpt(signal)} is not in the log; signals: {', '.join(map(repr, logged))}")
    for signal in {*scale, *offset}:
        kind, name = split_signal_name(signal)  # type: ignore[misc]
        signals[kind][name] = scale.get(signal, 1.0) * signals[kind][name] + offset.get(signal, 0.0)

