"""MuJoCo's own actuator features that a fit sets and calibrated.xml carries: the actuation delay.

A fitted `delay` is written as MuJoCo's native actuator delay (XML `delay`, `nsample`, `interp`;
MjModel `actuator_delay`, `actuator_history`): every actuator keeps a ring buffer of its last
`nsample` controls, one per step stamped with the time the step started, and reads it at
`time - delay` with linear interpolation. For a command log on the model's step grid this is
exactly sysid's convention (`sysid.sim.held_controls`: the held command delayed by d, averaged
over each step) for every d >= one timestep: the step average of a held signal read at a
fractional offset is the linear interpolation of its two neighbouring samples.

Below one timestep the two differ: MuJoCo reads the buffer before writing this step's control,
so any delay in (0, dt) acts as one whole step (`delay_mismatch`). Before the first step the
buffer holds zeros unless the caller fills it (`mujoco.mj_initCtrlHistory`); sysid assumes the
first command was held.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

LINEAR = 1  # mjs / MjModel interp code of "linear"


def delay_settings(model: mujoco.MjModel, delay: float) -> list[tuple[int, float]]:
    """(nsample, total delay in s) per actuator for a fitted `delay` (s) added to each actuator's own.

    nsample covers the total delay (MuJoCo extrapolates reads older than its buffer) with one
    sample to spare; an actuator already buffering more keeps its buffer.
    """
    dt = float(model.opt.timestep)
    out = []
    for a in range(model.nu):
        total = float(model.actuator_delay[a]) + delay
        nsample = max(int(model.actuator_history[a, 0]), math.ceil(total / dt - 1e-9) + 1)
        out.append((nsample, total))
    return out


def set_spec_delay(spec: mujoco.MjSpec, model: mujoco.MjModel, delay: float) -> None:
    """Write a fitted `delay` (s) into every actuator of `spec` (the source of `model`) as MuJoCo's delay."""
    for act, (nsample, total) in zip(spec.actuators, delay_settings(model, delay)):
        act.nsample, act.interp, act.delay = nsample, LINEAR, total


def with_delay(model: mujoco.MjModel, spec: mujoco.MjSpec, delay: float) -> mujoco.MjModel:
    """`spec` (the source of `model`) compiled with a fitted `delay` (s) as MuJoCo's actuator delay."""
    set_spec_delay(spec, model, delay)
    return spec.compile()


def delay_mismatch(model: mujoco.MjModel, delay: float) -> str | None:
    """Why MuJoCo's native delay cannot reproduce `delay` (s) exactly on `model`, or None when it can."""
    dt = float(model.opt.timestep)
    if 0 < delay < dt * (1 - 1e-9):
        return (f"the fitted delay {1e3 * delay:.3g} ms is below one timestep ({1e3 * dt:.3g} ms): MuJoCo applies any "
                "positive delay shorter than a step as one whole step, so calibrated.xml replays with a "
                f"{1e3 * dt:.3g} ms delay; a smaller timestep expresses it")
    return None


def strip_delay(model: mujoco.MjModel, delay: float) -> None:
    """Remove in place a fitted `delay` (s) that calibrated.xml carries natively from `model` (compiled
    from it), for callers that delay the commands themselves (`sysid.sim.held_controls`); each
    actuator keeps its own delay. A model written before delays were native has none to remove."""
    model.actuator_delay[:] = np.maximum(model.actuator_delay - delay, 0.0)


def init_history(model: mujoco.MjModel, data: mujoco.MjData, ctrl: np.ndarray) -> None:
    """Fill every actuator's control history with (nu,) `ctrl`: the command held before time 0
    (DESIGN.md: before the first row the plant sees the first row's command)."""
    for a in range(model.nu):
        nsample = int(model.actuator_history[a, 0])
        if nsample > 0:
            mujoco.mj_initCtrlHistory(model, data, a, None, np.full(nsample, float(ctrl[a])))
