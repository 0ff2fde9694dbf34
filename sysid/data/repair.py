"""Defects of real logs, found and (by rule) repaired, each one reported: stale rows, glitches, wraps.

Three defects bias a fit unless removed:

* stale rows: the logger wrote an unrefreshed state again, so every state signal (positions,
  velocities, efforts) of a row equals the row before, while the robot moves (the next fresh
  position jumps by more than 1.5x its typical step and more than 3 of its smallest steps, i.e.
  encoder counts) or while a signal that is not quantized (its smallest step is under 1% of its
  typical step, as for any noisy measurement) holds a value other than 0, which a real
  measurement never repeats exactly. A robot at rest, or an encoder moving a count or two at a
  time, is not stale.
* glitches: one sample of a position far from both neighbours (by more than `glitch_threshold`,
  default 0.5 rad or m) while the neighbours agree (within half that distance), e.g. a servo
  reading -pi for one sample. The first and last rows are not tested.
* wraps: a position jumping by a whole number of turns (2 pi k, within pi / 2): an angle logged
  wrapped to (-pi, pi].

The fit config's `repair:` key says what to do (`sysid fit --config`)::

    repair: {stale: interpolate, glitch: interpolate, wrap: unwrap}   # the rule `repair: true` picks

`stale: interpolate` puts the state of stale rows on the line between the fresh rows around them
(the commands of those rows are kept), `drop` removes the rows; `glitch: interpolate | drop`
likewise for the glitch samples; `wrap: unwrap` adds the whole turns back. Without `repair:`
(or with `keep`) nothing is changed and each defect found is a warning naming the rule to set.
Either way every finding is listed by file, signal and rows (row 1: the first row of the log)
in the printout and in result.json's `repairs`.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from sysid.data.log import Log
from sysid.errors import UserError

STALE_JUMP = 1.5  # a run of repeated states is stale when the next fresh position step exceeds this x the typical step
STALE_COUNTS = 3  # ... and this many of its smallest steps (encoder counts, for a quantized position)
CONTINUOUS = 0.01  # a signal whose smallest nonzero step is below this x its median step is not quantized
WRAP_TOLERANCE = np.pi / 2  # rad: a jump within this of 2 pi k (k != 0) is a wrap


@dataclasses.dataclass(frozen=True)
class RepairRules:
    """What to do with each defect (see the module docstring).

    Attributes:
      stale: "interpolate", "drop" or "keep" (report only).
      glitch: "interpolate", "drop" or "keep".
      wrap: "unwrap" or "keep".
      glitch_threshold: rad or m, the least distance of a glitch sample from both neighbours.
    """

    stale: Literal["interpolate", "drop", "keep"] = "keep"
    glitch: Literal["interpolate", "drop", "keep"] = "keep"
    wrap: Literal["unwrap", "keep"] = "keep"
    glitch_threshold: float = 0.5

    def __post_init__(self):
        for name, options in (("stale", ("interpolate", "drop", "keep")), ("glitch", ("interpolate", "drop", "keep")),
                              ("wrap", ("unwrap", "keep"))):
            if getattr(self, name) not in options:
                raise UserError(f"config: repair: {name} must be one of {', '.join(options)}, got {getattr(self, name)!r}")
        threshold = self.glitch_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < np.inf:
            raise UserError(f"config: repair: glitch_threshold must be a positive number (rad or m), got {threshold!r}")


REPAIR_ALL = RepairRules(stale="interpolate", glitch="interpolate", wrap="unwrap")
"""The rules `repair: true` stands for."""


def parse_rules(value: object) -> RepairRules:
    """The config's `repair:` value: None / false (report only), true (`REPAIR_ALL`), or a mapping
    of rules (the ones not given stay "keep")."""
    if value is None or value is False:
        return RepairRules()
    if value is True:
        return REPAIR_ALL
    if not isinstance(value, Mapping):
        raise UserError(f"config: repair must be true, false or a mapping like {{stale: interpolate, glitch: interpolate, "
                        f"wrap: unwrap}}, got {value!r}")
    unknown = [k for k in value if k not in {f.name for f in dataclasses.fields(RepairRules)}]
    if unknown:
        raise UserError(f"config: repair: unknown key(s) {', '.join(map(repr, unknown))}; allowed: stale, glitch, wrap, glitch_threshold")
    return RepairRules(**value)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class Finding:
    """One defect of one signal of one log: where, how many rows, and what was done."""

    file: str
    signal: str  # "JOINT.pos" etc., or "state" (every state signal) for stale rows
    defect: Literal["stale", "glitch", "wrap"]
    rows: tuple[tuple[int, int], ...]  # 1-based inclusive row ranges
    action: str  # "interpolated", "dropped", "unwrapped", or "none"

    @property
    def count(self) -> int:
        return sum(b - a + 1 for a, b in self.rows)

    def to_json(self) -> dict:
        return {"file": self.file, "signal": self.signal, "defect": self.defect, "rows": [_span(r) for r in self.rows],
                "count": self.count, "action": self.action}

    def line(self) -> str:
        shown = ", ".join(_span(r) for r in self.rows[:8]) + (f", ... ({len(self.rows)} ranges)" if len(self.rows) > 8 else "")
        noun = {"stale": "stale row", "glitch": "glitch sample", "wrap": "wrap"}[self.defect]
        return f"{self.file}: {self.signal}: {self.count} {noun}{'s' if self.count != 1 else ''} at rows {shown}: {self.action}"


def repair_log(log: Log, rules: RepairRules = RepairRules()) -> tuple[Log, list[Finding]]:
    """Finds the defects of one log and applies `rules`: wraps first, then glitches, then stale rows.

    Returns:
      (the repaired log, or `log` itself when nothing changed; the findings in that order).
    """
    findings: list[Finding] = []
    pos = dict(log.pos)
    for name, values in log.pos.items():
        rows = wrap_rows(values)
        if rows.size:
            done = rules.wrap == "unwrap"
            findings.append(Finding(log.source, f"{name}.pos", "wrap", _ranges(rows), "unwrapped" if done else "none"))
            if done:
                pos[name] = unwrap_at(values, rows)
    drop = np.zeros(len(log.time), bool)
    for name, values in list(pos.items()):
        rows = glitch_rows(values, rules.glitch_threshold)
        if rows.size:
            action = {"interpolate": "interpolated", "drop": "dropped", "keep": "none"}[rules.glitch]
            findings.append(Finding(log.source, f"{name}.pos", "glitch", _ranges(rows), action))
            if rules.glitch == "interpolate":
                keep = np.ones(len(values), bool)
                keep[rows] = False
                pos[name] = np.interp(log.time, log.time[keep], values[keep])
            elif rules.glitch == "drop":
                drop[rows] = True
    fixed = dataclasses.replace(log, pos=pos)
    rows = stale_rows(fixed)
    if rows.size:
        action = {"interpolate": "interpolated", "drop": "dropped", "keep": "none"}[rules.stale]
        findings.append(Finding(log.source, "state", "stale", _ranges(rows), action))
        if rules.stale == "interpolate":
            keep = np.ones(len(log.time), bool)
            keep[rows] = False
            groups = {g: {k: np.interp(log.time, log.time[keep], v[keep]) for k, v in getattr(fixed, g).items()}
                      for g in ("pos", "vel", "effort")}
            fixed = dataclasses.replace(fixed, **groups)
        elif rules.stale == "drop":
            drop[rows] = True
    if drop.any():
        keep = ~drop
        cut = lambda d: {k: v[keep] for k, v in d.items()}  # noqa: E731
        fixed = Log(log.source, log.time[keep], cut(fixed.pos), cut(fixed.vel), cut(fixed.effort), cut(fixed.ctrl), log.meta,
                    cut(fixed.sensors))
    return (fixed if findings and any(f.action != "none" for f in findings) else log), findings


def repair_logs(logs: Sequence[Log], rules: RepairRules = RepairRules()) -> tuple[list[Log], list[Finding]]:
    """`repair_log` on each log; findings left unrepaired are warnings that name the rule to set."""
    out, findings = [], []
    for log in logs:
        fixed, found = repair_log(log, rules)
        out.append(fixed)
        findings.extend(found)
    kept = [f for f in findings if f.action == "none"]
    for f in kept:
        rule = {"stale": "stale: interpolate", "glitch": "glitch: interpolate", "wrap": "wrap: unwrap"}[f.defect]
        warnings.warn(f"{f.line()} (not repaired; set 'repair: {{{rule}}}' in the --config file to repair it)", stacklevel=2)
    return out, findings


def stale_rows(log: Log) -> np.ndarray:
    """0-based rows whose whole state repeats the row before while the robot moves (module docstring)."""
    states = [v for g in ("pos", "vel", "effort") for v in getattr(log, g).values()]
    matrix = np.stack(states, axis=1)  # (N, m)
    n = len(matrix)
    same = np.zeros(n, bool)
    same[1:] = np.all(matrix[1:] == matrix[:-1], axis=1)
    steps = np.abs(np.diff(matrix, axis=0))
    typical = np.array([np.median(s[s > 0]) if np.any(s > 0) else np.inf for s in steps.T])  # (m,)
    smallest = np.array([np.min(s[s > 0]) if np.any(s > 0) else np.inf for s in steps.T])
    continuous = smallest < CONTINUOUS * typical  # (m,) not quantized: an exact repeat of a nonzero value is stale
    # A move across the run: a position jumping by more than 1.5 typical steps and more than 3 counts.
    moved = np.where(np.arange(len(typical)) < len(log.pos), np.maximum(STALE_JUMP * typical, STALE_COUNTS * smallest), np.inf)
    rows = []
    i = 1
    while i < n:
        if not same[i]:
            i += 1
            continue
        start = i
        while i < n and same[i]:
            i += 1
        jumps = i < n and np.any(np.abs(matrix[i] - matrix[start - 1]) > moved)
        if jumps or np.any(continuous & (matrix[start - 1] != 0)):
            rows.extend(range(start, i))
    return np.asarray(rows, dtype=int)


def glitch_rows(values: np.ndarray, threshold: float) -> np.ndarray:
    """0-based rows of single-sample glitches of (N,) positions (module docstring); rows 0 and N-1 are not tested."""
    if len(values) < 3:
        return np.zeros(0, int)
    before, here, after = values[:-2], values[1:-1], values[2:]
    away = np.minimum(np.abs(here - before), np.abs(here - after))
    same_side = np.sign(here - before) == np.sign(here - after)
    return np.flatnonzero(same_side & (away > threshold) & (np.abs(after - before) < away / 2)) + 1


def wrap_rows(values: np.ndarray) -> np.ndarray:
    """0-based rows whose step from the row before is a whole number of turns (module docstring)."""
    steps = np.diff(values)
    turns = np.round(steps / (2 * np.pi))
    return np.flatnonzero((turns != 0) & (np.abs(steps - 2 * np.pi * turns) < WRAP_TOLERANCE)) + 1


def unwrap_at(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(N,) positions with the whole turns of the jumps into `rows` removed from there on."""
    correction = np.zeros(len(values))
    correction[rows] = -2 * np.pi * np.round((values[rows] - values[rows - 1]) / (2 * np.pi))
    return values + np.cumsum(correction)


def _ranges(rows: np.ndarray) -> tuple[tuple[int, int], ...]:
    """0-based sorted rows -> 1-based inclusive ranges."""
    out: list[list[int]] = []
    for r in (int(x) + 1 for x in np.sort(rows)):
        if out and r == out[-1][1] + 1:
            out[-1][1] = r
        else:
            out.append([r, r])
    return tuple((a, b) for a, b in out)


def _span(r: tuple[int, int]) -> str:
    return f"{r[0]}" if r[0] == r[1] else f"{r[0]}-{r[1]}"
