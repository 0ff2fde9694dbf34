"""Per-log settings taken from each log's own header (`Log.meta`), not from its file name.

An actuator model's `per_log` settings (`sysid.closedloop`) map a glob over log files to fixed
values. A value written `{meta: KEY}` is read from each matching log's header instead, e.g. the
firmware gain of every BAM servo log (`sysid.data.servo_json`)::

    actuators:
      dcmotor@servo:
        per_log:
          "*": {gain: {meta: kp}}     # each log's header field kp

`resolve_meta` turns such entries into one plain entry per log (its exact path), in place of the
glob, before the fit starts; a log without that header field is an error naming the log and key.
"""

from __future__ import annotations

import fnmatch
import glob
from collections.abc import Mapping, Sequence

from sysid.data.log import Log
from sysid.errors import UserError


def resolve_meta(actuators: Mapping[str, object], logs: Sequence[Log]) -> dict:
    """The fit config's `actuators` with every `{meta: KEY}` per-log value replaced by each log's value.

    Args:
      actuators: `FitConfig.actuators` ("control_dt" and per "MODEL@TARGET" options).
      logs: every log of the fit (training and held-out), whose `source` the globs match.
    Returns:
      A copy; options without `{meta: KEY}` values are unchanged (the same objects).
    """
    out = dict(actuators)
    for item, options in actuators.items():
        if not isinstance(options, Mapping) or not isinstance(options.get("per_log"), Mapping):
            continue
        per_log: dict = {}
        for pattern, settings in options["per_log"].items():
            if not isinstance(settings, Mapping) or not any(_meta_key(v) is not None for v in settings.values()):
                per_log[pattern] = settings
                continue
            for log in logs:
                if fnmatch.fnmatchcase(log.source, str(pattern)):
                    per_log[glob.escape(log.source)] = {k: _value(item, pattern, k, v, log) for k, v in settings.items()}
        out[item] = {**options, "per_log": per_log}
    return out


def _meta_key(value: object) -> str | None:
    if isinstance(value, Mapping) and set(value) == {"meta"} and isinstance(value["meta"], str):
        return value["meta"]
    return None


def _value(item: str, pattern: object, setting: str, value: object, log: Log) -> object:
    key = _meta_key(value)
    if key is None:
        return value
    if key not in log.meta:
        known = ", ".join(map(repr, log.meta)) or "none (only servo JSON logs carry header fields)"
        raise UserError(f"config: actuators: {item}: per_log {pattern!r}: {setting}: {log.source} has no header field "
                        f"{key!r}; its fields: {known}")
    number = log.meta[key]
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise UserError(f"config: actuators: {item}: per_log {pattern!r}: {setting}: {log.source}'s header field "
                        f"{key!r} is {number!r}, not a number")
    return float(number)
