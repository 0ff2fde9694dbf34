"""`sysid fleet FLEET.yaml --out DIR`: one calibration per robot of a fleet, and a table across it.

Each robot's entry names its model, logs and parameters (and optionally a fit config and a map);
every robot is fitted as `sysid fit` fits it, side by side on Ray (`--ray`) or one after another,
into DIR/NAME/ (the usual output folder). DIR/summary.json and DIR/summary.md table every fitted
parameter across the fleet and flag the robots whose value is an outlier: a robust z-score
0.6745 (x - median) / MAD above `OUTLIER_Z`, and a value more than `OUTLIER_RELATIVE` away from
the median (so that robots agreeing to within their noise are not flagged for a tiny MAD).

    defaults: {model: arm2.xml, params: "mass,damping,frictionloss,armature"}   # optional
    robots:
      - {name: arm_a, logs: [arm_a.csv]}
      - {name: arm_b, logs: [arm_b.csv], config: fit_b.yaml}

Relative paths are relative to the fleet file's folder.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import sys
import tempfile
from typing import TYPE_CHECKING

import numpy as np

from sysid.errors import UserError

if TYPE_CHECKING:
    from sysid.distributed import RayBackend

OUTLIER_Z = 3.5  # robust z-score above which a value is an outlier (Iglewicz and Hoaglin)
OUTLIER_RELATIVE = 0.10  # ... when it is also this far (relative) from the fleet's median
KEYS = ("name", "model", "logs", "params", "config", "map")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclasses.dataclass(frozen=True)
class Robot:
    """One robot of a fleet: what `sysid fit` gets for it (paths resolved against the fleet file)."""

    name: str
    model: str
    logs: tuple[str, ...]
    params: str
    config: str | None = None
    map: str | None = None


def load_fleet(path: str | os.PathLike) -> list[Robot]:
    """The robots of a fleet file; a one-line UserError names the file, the robot and the key."""
    from sysid.inputs import check_file, excerpt, load_yaml

    raw = load_yaml(path, what="fleet file")
    if not isinstance(raw, dict) or not isinstance(raw.get("robots"), list) or not raw["robots"]:
        raise UserError(f"{path}: expected 'robots:' with a list of {{name, model, logs, params}} (see sysid fleet --help)")
    unknown = sorted(set(raw) - {"robots", "defaults"})
    if unknown:
        raise UserError(f"{path}: unknown key(s) {', '.join(map(str, unknown))}; allowed: robots, defaults")
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict) or set(defaults) - set(KEYS[1:]):
        raise UserError(f"{path}: 'defaults' must map some of {', '.join(KEYS[1:])} to values, got {excerpt(defaults)}")
    folder = pathlib.Path(path).parent
    robots: list[Robot] = []
    for i, item in enumerate(raw["robots"]):
        where = f"{path}: robot {i + 1}"
        if not isinstance(item, dict):
            raise UserError(f"{where}: must be a mapping with name, model, logs, params, got {excerpt(item)}")
        unknown = sorted(set(item) - set(KEYS))
        if unknown:
            raise UserError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(KEYS)}")
        entry = {**defaults, **item}
        name = entry.get("name")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise UserError(f"{where}: 'name' must be a folder name of letters, digits, '_', '-', '.', got {excerpt(name)}")
        where = f"{path}: robot {name!r}"
        if name in {r.name for r in robots}:
            raise UserError(f"{where}: listed twice (names must be unique)")
        for key in ("model", "params"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise UserError(f"{where}: '{key}' is required (text), got {excerpt(entry.get(key))}")
        logs = entry.get("logs")
        if isinstance(logs, str):
            logs = [logs]
        if not isinstance(logs, list) or not logs or not all(isinstance(x, str) for x in logs):
            raise UserError(f"{where}: 'logs' must be a list of log files, got {excerpt(logs)}")
        for key in ("config", "map"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise UserError(f"{where}: '{key}' must be a file name, got {excerpt(entry[key])}")

        def resolve(file: str, what: str) -> str:
            resolved = folder / file
            try:
                check_file(resolved, what=what)
            except UserError as error:
                raise UserError(f"{where}: {error}") from None
            return str(resolved)

        robots.append(Robot(name, resolve(entry["model"], "model"), tuple(resolve(x, "log") for x in logs), entry["params"],
                            resolve(entry["config"], "config") if entry.get("config") else None,
                            resolve(entry["map"], "map") if entry.get("map") else None))
    return robots


def fit_fleet(path: str | os.PathLike, out: str | os.PathLike, *, seed: int | None = None,
              backend: RayBackend | None = None, progress: bool = True) -> dict:
    """Fit every robot of the fleet file into OUT/NAME/, write OUT/summary.json and OUT/summary.md;
    returns the summary. With `backend`, the robots are fitted as Ray tasks and their output files
    sent back to this machine (the inputs must be readable at the same paths on every worker)."""
    from sysid import io

    robots = load_fleet(path)
    out = pathlib.Path(out)
    jobs = [(robot, seed) for robot in robots]
    if backend is not None:
        if progress:
            print(f"sysid: fleet: fitting {len(robots)} robots on Ray", file=sys.stderr, flush=True)
        results = {}
        for robot, (summary, files) in zip(robots, backend.map(_fit_robot_files, jobs)):
            with io.output_set(out / robot.name, names=list(files)) as stage:
                for name, data in files.items():
                    io.write_bytes(stage / name, data)
            results[robot.name] = summary
    else:
        results = {}
        for robot in robots:
            if progress:
                print(f"sysid: fleet: fitting {robot.name}", file=sys.stderr, flush=True)
            results[robot.name] = _fit_robot(robot, seed, out / robot.name)
    summary = summarize(results)
    summary["fleet"] = os.fspath(path)
    io.write_json(out / "summary.json", summary)
    io.write_text(out / "summary.md", format_markdown(summary))
    return summary


def _fit_robot(robot: Robot, seed: int | None, out: pathlib.Path) -> dict:
    """`sysid fit` of one robot into `out`; a user error names the robot."""
    from sysid.cli import fit_files

    try:
        return fit_files(model_path=robot.model, log_paths=list(robot.logs), params=robot.params, out=os.fspath(out),
                         config_path=robot.config, map_path=robot.map, seed=seed, progress=False)
    except UserError as error:
        raise UserError(f"robot {robot.name!r}: {error}") from None


def _fit_robot_files(job: tuple[Robot, int | None]) -> tuple[dict, dict[str, bytes]]:
    """On a Ray worker: fit one robot into a temporary folder; returns (result.json, {file name: bytes})."""
    robot, seed = job
    with tempfile.TemporaryDirectory(prefix="sysid-fleet-") as tmp:
        folder = pathlib.Path(tmp) / robot.name
        summary = _fit_robot(robot, seed, folder)
        return summary, {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def summarize(results: dict[str, dict]) -> dict:
    """Per parameter across the fleet ({robot: result.json}): values, median, MAD, robust z-scores
    and the outliers; plus the list of every outlier."""
    robots = list(results)
    names = list(dict.fromkeys(n for r in results.values() for n in r["params"]))
    params, outliers = {}, []
    for name in names:
        values = {robot: float(results[robot]["params"][name]["value"]) for robot in robots if name in results[robot]["params"]}
        z, median, mad = robust_z(np.array(list(values.values())))
        flagged = [robot for robot, zi, v in zip(values, z, values.values())
                   if abs(zi) > OUTLIER_Z and abs(v - median) > OUTLIER_RELATIVE * abs(median)]
        params[name] = {"values": values, "median": median, "mad": mad, "robust_z": dict(zip(values, map(float, z))),
                        "outliers": flagged}
        outliers += [{"robot": robot, "param": name, "value": values[robot], "median": median,
                      "robust_z": params[name]["robust_z"][robot]} for robot in flagged]
    return {"robots": robots, "params": params, "outliers": outliers, "outlier_rule": {"robust_z": OUTLIER_Z,
                                                                                      "relative": OUTLIER_RELATIVE},
            "loss": {robot: results[robot]["loss"]["final"] for robot in robots}}


def robust_z(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(k,) values -> ((k,) robust z-scores 0.6745 (x - median) / MAD, median, MAD); a zero MAD
    gives infinite scores to the values off the median (0 on it)."""
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median)))
    deviation = values - median
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(deviation == 0, 0.0, 0.6745 * deviation / mad)
    return z, median, mad


def _rows(summary: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the fleet table: one row per parameter, outliers marked with '*'."""
    robots = summary["robots"]
    rows = []
    for name, p in summary["params"].items():
        cells = [f"{p['values'][r]:.4g}{' *' if r in p['outliers'] else ''}" if r in p["values"] else "-" for r in robots]
        rows.append([name, *cells, f"{p['median']:.4g}"])
    return ["parameter", *robots, "median"], rows


def format_table(summary: dict) -> str:
    """The fleet table as text, then one line per outlier."""
    header, rows = _rows(summary)
    widths = [max(len(line[i]) for line in [header, *rows]) + 2 for i in range(len(header))]
    lines = ["".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
             for line in [header, *rows]]
    lines += _outlier_lines(summary)
    return "\n".join(lines)


def format_markdown(summary: dict) -> str:
    """summary.md: the fleet table in Markdown and the outliers."""
    header, rows = _rows(summary)
    lines = ["# Fleet calibration", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", *(f"- {line}" for line in _outlier_lines(summary))]
    return "\n".join(lines) + "\n"


def _outlier_lines(summary: dict) -> list[str]:
    rule = summary["outlier_rule"]
    if not summary["outliers"]:
        return [f"no outliers (robust z-score above {rule['robust_z']:g} and over {100 * rule['relative']:g}% from the median)"]
    return [f"outlier: {o['param']} of {o['robot']} = {o['value']:.4g} (fleet median {o['median']:.4g}, robust z {o['robust_z']:.3g})"
            for o in summary["outliers"]]
