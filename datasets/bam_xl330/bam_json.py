"""Adapter: BAM's JSON servo logs -> sysid `Log` / CSV. Copy this file for your own log format.

(sysid itself now reads these files, every field and the header included: `sysid fit --log run.json`
or `--format servo-json`, see `sysid.data.servo_json` and docs/logs-round-two.md. This file stays as
the example of a hand-written adapter and as the reader of the position-actuator benchmark.)

A log format sysid does not read is one small function away: read the file, build a `Log` with
SI units and names from your MJCF (`pos` per joint, `ctrl` per actuator), and check the input at
the boundary with one-line `UserError`s naming the file, key and row. Then either use the `Log`
from Python (`sysid.fit(model, [log], params)`) or write it as sysid's CSV schema and use the
`sysid fit` command line:

    .venv/bin/python datasets/bam_xl330/bam_json.py ../shared/data/real/bam_xl330/raw/*.json --out /tmp/bam_csv
    .venv/bin/sysid fit --model datasets/bam_xl330/bench.xml --log /tmp/bam_csv/2026-01-15_10h29m14.csv ...

BAM's format (github.com/Rhoban/bam, `raw/*.json`): top-level `mass` [kg], `length` [m], `kp`
(firmware gain), `vin` [V], `trajectory`, and `entries`, each with `timestamp` [s], `position`
[rad], `speed` [rad/s], `goal_position` [rad] and `torque_enable`. The goal position is the position
actuator's command. While the torque is disabled the servo exerts nothing, which a position
actuator cannot express; the adapter keeps the rows up to the first torque-disabled one and says
how many it dropped (in `lift_and_drop` runs that is the passive drop, the last 4 s).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import warnings

import numpy as np

from sysid.data import Log
from sysid.errors import UserError

JOINT = "servo"  # names in bench.xml
ACTUATOR = "servo"
ENTRY_KEYS = ("timestamp", "position", "speed", "goal_position", "torque_enable")


def load_bam(path: str | os.PathLike) -> Log:
    """Reads one BAM JSON log: `servo.pos`, `servo.vel` [rad, rad/s] and `servo.ctrl` (goal) [rad].

    Rows from the first one with the torque disabled on are dropped (with a warning).
    """
    source = os.fspath(path)
    doc = read_json(source)
    entries = doc["entries"]
    columns = {key: np.empty(len(entries)) for key in ENTRY_KEYS}
    for row, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise UserError(f"{source}: entries, row {row}: expected an object, got {type(entry).__name__}")
        for key in ENTRY_KEYS:
            if key not in entry:
                raise UserError(f"{source}: entries, row {row}: missing '{key}'")
            value = entry[key]
            if not isinstance(value, (int, float)) or not np.isfinite(value):
                raise UserError(f"{source}: entries, row {row}: '{key}' is {value!r}, not a finite number")
            columns[key][row - 1] = float(value)
    enabled = columns["torque_enable"].astype(bool)
    stop = len(entries) if enabled.all() else int(np.argmin(enabled))
    if stop < len(entries):
        warnings.warn(f"{source}: torque disabled from row {stop + 1} (t = {columns['timestamp'][stop]:.3f} s); "
                      f"keeping rows 1-{stop}, dropping {len(entries) - stop}", stacklevel=2)
    if stop < 2:
        raise UserError(f"{source}: the torque is disabled from the first rows; nothing for a position actuator")
    cut = {key: values[:stop] for key, values in columns.items()}
    return Log(source, cut["timestamp"], {JOINT: cut["position"]}, {JOINT: cut["speed"]}, {}, {ACTUATOR: cut["goal_position"]})


def read_json(source: str) -> dict:
    """The JSON document, checked for the keys the adapter uses; errors name the file and key."""
    try:
        with open(source, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise UserError(f"{source}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{source}: cannot read file ({e})") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{source}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
        raise UserError(f"{source}: expected a JSON object with an 'entries' list (BAM log format)")
    for key in ("kp", "vin"):
        if not isinstance(doc.get(key), (int, float)) or isinstance(doc.get(key), bool):
            raise UserError(f"{source}: top-level '{key}' must be a number, got {doc.get(key)!r}")
    return doc


def write_csv(log: Log, path: str | os.PathLike) -> pathlib.Path:
    """Writes a `Log` in sysid's CSV schema (`time`, `NAME.pos`, `NAME.vel`, `NAME.ctrl`)."""
    columns = {"time": log.time}
    columns.update({f"{k}.pos": v for k, v in log.pos.items()})
    columns.update({f"{k}.vel": v for k, v in log.vel.items()})
    columns.update({f"{k}.ctrl": v for k, v in log.ctrl.items()})
    path = pathlib.Path(path)
    rows = np.stack(list(columns.values()), axis=1)
    np.savetxt(path, rows, delimiter=",", header=",".join(columns), comments="", fmt="%.10g")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Convert BAM JSON servo logs to sysid CSV logs.")
    parser.add_argument("json", nargs="+", help="BAM raw/*.json files")
    parser.add_argument("--out", required=True, help="folder for the CSV files (one per JSON, same name)")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        for name in args.json:
            doc = read_json(name)
            path = write_csv(load_bam(name), out / (pathlib.Path(name).stem + ".csv"))
            print(f"{path}: {doc.get('trajectory')}, firmware kp {doc['kp']}")
    except UserError as error:
        print(f"bam_json: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
