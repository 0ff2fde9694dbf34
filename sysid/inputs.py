"""Checks on the user's input files before they are read, YAML without aliases, short excerpts.

Every file sysid reads is checked first (`check_file`): it must be a regular file (a FIFO would
block forever, a device would never end) of a sane size for formats read whole (a 2 GB sparse
CSV would take tens of GB of memory before failing). YAML files (config, maps, randomization)
are parsed with `load_yaml`: safe types only and no anchors or aliases, so a few hundred bytes
cannot expand into gigabytes ("billion laughs"). Messages quote values through `excerpt`, at most
a short piece of them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import yaml

from sysid.errors import UserError

MAX_WHOLE_FILE_BYTES = 1 << 30
"""Largest log sysid reads whole (CSV, Parquet): 1 GiB (a CSV takes several times its size in memory)."""
MAX_YAML_BYTES = 1 << 20
"""Largest YAML file (config, map, randomization): 1 MiB, far above any real one."""
EXCERPT = 60  # characters of a bad value quoted in a message


def excerpt(value: object, limit: int = EXCERPT) -> str:
    """`repr(value)` cut to about `limit` characters ("..." and the full length when cut)."""
    if isinstance(value, (list, tuple, dict, set)) and len(value) > limit:  # do not build a huge repr
        return f"<{type(value).__name__} of {len(value)} items>"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def check_file(path: str | os.PathLike, *, what: str, max_bytes: int | None = None) -> Path:
    """`path` as a Path when it is a regular file of at most `max_bytes`; else a UserError naming it.

    `what` ("file", "map file") words the message. Symbolic links are followed.
    """
    source = os.fspath(path)
    try:
        info = os.stat(source)
    except FileNotFoundError:
        raise UserError(f"{source}: {what} not found") from None
    except OSError as error:
        raise UserError(f"{source}: cannot read the {what} ({error.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise UserError(f"{source}: cannot read file (it is a folder); give a file")
    if not stat.S_ISREG(info.st_mode):
        kind = "FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else "device or socket"
        raise UserError(f"{source}: cannot read file (it is a {kind}, not a regular file); give a file")
    if max_bytes is not None and info.st_size > max_bytes:
        raise UserError(f"{source}: {info.st_size / 2**20:.0f} MiB, more than the {max_bytes / 2**20:.0f} MiB sysid reads whole; "
                        f"split it into shorter files (or keep only the columns the fit needs)")
    return Path(source)


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses anchors and aliases (`&a`, `*a`)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "YAML aliases (*name) are not allowed in sysid files; "
                                              "write the value out", event.start_mark)
        event = self.peek_event()
        if getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(None, None, "YAML anchors (&name) are not allowed in sysid files; "
                                              "write the value out", event.start_mark)
        return super().compose_node(parent, index)


def load_yaml(path: str | os.PathLike, *, what: str) -> object:
    """Parse a small YAML file (safe types, no anchors or aliases, at most `MAX_YAML_BYTES`).

    Raises UserError naming the file (and the line of a syntax error)."""
    source = os.fspath(check_file(path, what=what, max_bytes=MAX_YAML_BYTES))
    try:
        with open(source, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{source}: cannot read the {what} ({str(error).splitlines()[0][:200]})") from None
    return parse_yaml(text, source=source)


def parse_yaml(text: str, *, source: str) -> object:
    """Parse YAML text as `load_yaml` does; `source` names it in errors."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise UserError(f"{source}: YAML syntax error{where}: {str(problem)[:200]} (not valid YAML)") from None
    except RecursionError:
        raise UserError(f"{source}: YAML nested too deeply") from None


def checked_fields(cls: type, values: object, *, where: str) -> dict:
    """`values` as keyword options of the dataclass `cls`, each checked against its field's type:
    names must be fields (not `name` or `local`), ints whole numbers >= 1, floats finite and > 0,
    Literal strings among the choices, bools true / false, Optional fields may be null.
    Raises UserError naming `where` and the option, quoting at most a short excerpt of a bad value."""
    import dataclasses
    import math
    import typing

    if values is None:
        return {}
    if not isinstance(values, dict):
        raise UserError(f"{where}: expected a mapping of option names to values, got {excerpt(values)}")
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls) if f.name not in ("name", "local")]
    out = {}
    for key, value in values.items():
        if key not in fields:
            raise UserError(f"{where}: unexpected keyword {excerpt(key)} (not an option); options: {', '.join(fields)}")
        hint = hints[key]
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            out[key] = value
            continue
        base = next((a for a in args if a is not type(None)), hint) if args and typing.get_origin(hint) is not typing.Literal else hint
        ok = True
        if typing.get_origin(base) is typing.Literal:
            ok, expected = value in typing.get_args(base), " or ".join(map(repr, typing.get_args(base)))
        elif base is bool:
            ok, expected = isinstance(value, bool), "true or false"
        elif base is int:
            ok, expected = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 10**9, "a whole number, at least 1 (at most 1e9)"
        elif base is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
            expected = "a positive finite number"
        elif base is str:
            ok, expected = isinstance(value, str), "a string"
        if not ok:
            raise UserError(f"{where}: {key} must be {expected}, got {excerpt(value)}")
        out[key] = float(value) if base is float else value
    return out


MAX_JSON_BYTES = 64 << 20
"""Largest JSON file sysid reads back (result.json, manifest.json, model descriptions): 64 MiB."""


def load_json(path: str | os.PathLike, *, what: str) -> object:
    """Parse a JSON file sysid wrote (checked as `check_file`, at most `MAX_JSON_BYTES`).

    Raises UserError naming the file when it is missing, too big, not UTF-8 or not JSON."""
    import json

    source = os.fspath(check_file(path, what=what, max_bytes=MAX_JSON_BYTES))
    try:
        with open(source, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise UserError(f"{source}: not valid JSON ({str(error).splitlines()[0][:200] if str(error) else type(error).__name__})") from None
    except OSError as error:
        raise UserError(f"{source}: cannot read the {what} ({error.strerror})") from None
