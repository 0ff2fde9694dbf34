"""Actuator models and residual dynamics that plug into `sysid.sim` through `sysid.closedloop`.

Each model is a config dataclass (settings with units) paired with a class implementing
`reset(batch, dt, params)` and `compute(command, q, qd) -> torque` on (B,) numpy batches
(see `actuator_models.base`). `MODELS` maps the names used by `--actuator MODEL@TARGET`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from actuator_models.analytic import (
    DCMotor, DCMotorConfig, DelayedPD, DelayedPDConfig, Friction, FrictionConfig, IdealPD, IdealPDConfig,
)
from actuator_models.base import ActuatorConfig, ActuatorModel, ParamInfo
from actuator_models.tinynet import TinyNet, TinyNetConfig

MODELS: dict[str, type] = {
    "pd": IdealPDConfig,
    "delayed_pd": DelayedPDConfig,
    "dcmotor": DCMotorConfig,
    "friction": FrictionConfig,
    "tinynet": TinyNetConfig,
}
"""`--actuator` model name -> config class; "net:FOLDER" loads a trained network instead."""

__all__ = [
    "MODELS", "ActuatorConfig", "ActuatorModel", "DCMotor", "DCMotorConfig", "DelayedPD", "DelayedPDConfig", "Friction",
    "FrictionConfig", "IdealPD", "IdealPDConfig", "ParamInfo", "TinyNet", "TinyNetConfig", "make_config",
]


def make_config(kind: str, settings: Mapping[str, Any] | None = None, *, where: str = "--actuator") -> Any:
    """Build the config of model `kind` ("dcmotor", ..., or "net:FOLDER") from `settings`.

    Raises sysid's UserError naming `where` for an unknown model or setting.
    """
    from sysid.errors import UserError

    settings = dict(settings or {})
    if kind.startswith("net:"):
        from actuator_models.network import NetConfig

        cls, settings = NetConfig, {"path": kind[4:], **settings}
    elif kind in MODELS:
        cls = MODELS[kind]
    else:
        raise UserError(f"{where}: unknown actuator model {kind!r}; models: {', '.join(MODELS)}, net:FOLDER")
    try:
        return cls(**_checked(cls, settings, where))
    except (TypeError, ValueError) as error:
        raise UserError(f"{where}: {error}") from None


def _checked(cls: type, settings: dict, where: str) -> dict:
    from sysid.errors import UserError

    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(settings) - names)
    if unknown:
        raise UserError(f"{where}: unknown setting(s) {', '.join(unknown)}; {cls.__name__} has {', '.join(sorted(names))}")
    return settings
