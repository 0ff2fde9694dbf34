"""`Finding`: one thing `sysid check` found in the logs, with the parameters it concerns and a remedy."""

from __future__ import annotations

import dataclasses
from typing import Literal

from sysid.params import KINDS, ParamSet

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")


@dataclasses.dataclass(frozen=True)
class Finding:
    """One finding of the check.

    Attributes:
      kind: a short key, e.g. "gap", "frozen", "joint_never_moves", "not_identifiable".
      severity: "error" fails the check; "warning" and "info" do not.
      message: one plain sentence naming the log, signal and rows concerned.
      remedy: what to do about it (one sentence, may name a command).
      log: the log's source, or None for findings about all logs.
      signal: the signal ("elbow.pos", "motor.ctrl") or None.
      params: the parameters it concerns (canonical names).
    """

    kind: str
    severity: Severity
    message: str
    remedy: str = ""
    log: str | None = None
    signal: str | None = None
    params: tuple[str, ...] = ()

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"Finding {self.kind}: severity must be one of {SEVERITIES}, got {self.severity!r}")

    def as_dict(self) -> dict:
        """Plain data for check.json."""
        return {**dataclasses.asdict(self), "params": list(self.params)}


def joint_params(params: ParamSet | None, joint: str) -> tuple[str, ...]:
    """Names of the fitted parameters of joint `joint` (damping, frictionloss, armature, stiffness)."""
    return tuple(p.name for p in params or () if KINDS[p.kind].element == "joint" and p.target == joint)


def actuator_params(params: ParamSet | None, actuator: str) -> tuple[str, ...]:
    """Names of the fitted parameters an actuator's command reveals: its own (gear, kp, kv,
    actuator-model numbers) and the delay."""
    return tuple(p.name for p in params or ()
                 if (KINDS[p.kind].element in ("actuator", "model") and p.target == actuator) or p.kind == "delay")
