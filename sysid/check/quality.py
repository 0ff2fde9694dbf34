"""Data quality of one log, before any fit: timing, sensors, commands, limits and motion.

`log_quality(log, model, params)` returns a per-signal summary (sample rate and jitter, noise level,
quantisation step, range) and `Finding`s for what would mislead or starve a fit: gaps and jittery
timestamps, duplicated rows and frozen sensors, coarse quantisation, noisy signals, commands at or
beyond `ctrlrange`, positions at joint limits, clipped signals, idle starts and ends, angles that
wrap at +-pi, a command that never changes, a joint that never moves or moves one way only, and a
log shorter than the actuation delay. Thresholds are module constants.
"""

from __future__ import annotations

import mujoco
import numpy as np

from sysid.check.finding import Finding, actuator_params, joint_params
from sysid.data import Log, noise_std, smooth
from sysid.data.align import active_rows
from sysid.data.mapfile import signal_name
from sysid.params import ParamSet

JITTER_LIMIT = 0.1  # std of the sample period / its median
GAP_FACTOR = 3.0  # a period this many times the median is a gap
DUPLICATE_LIMIT = 0.01  # fraction of rows that repeat every measured signal while moving
FROZEN_RUN = 5  # repeated samples of a moving signal that make a frozen stretch
MIN_LEVELS = 100  # fewer quantisation levels across a signal's range is coarse
NOISY_LIMIT = 0.1  # noise std / signal std above this is noisy
SATURATION_LIMIT = 0.02  # fraction of rows at a command or joint limit
LIMIT_BAND = 0.01  # "at a limit": within this fraction of the range from it
CLIP_RUNS = 2  # separate runs (of 3 or more samples) at a signal's extreme value that make clipping
IDLE_LIMIT = 0.2  # idle start and end above this fraction of the log
MOVE_NOISE = 10.0  # a joint whose smoothed range is below this many noise stds never moves


def log_quality(log: Log, model: mujoco.MjModel, params: ParamSet | None = None, *, delay: float = 0.0) -> tuple[dict, list[Finding]]:
    """Summary and findings of one log.

    Args:
      log: the log (positions rad or m, commands in the actuator's unit).
      model: the compiled model, for ctrlrange, joint ranges and joint types.
      params: the parameters to be fitted; findings name those they concern.
      delay: s, the actuation delay the fit starts from (a log shorter than it shows no command's effect).
    Returns:
      ({"source", "rows", "duration_s", "rate_hz", "jitter", "signals": {SIGNAL: {...}}}, findings).
    """
    src = log.source
    dt = np.diff(log.time)
    period = float(np.median(dt))
    jitter = float(np.std(dt) / period)
    summary = {"source": src, "rows": len(log.time), "duration_s": log.duration, "rate_hz": 1.0 / period, "jitter": jitter, "signals": {}}
    out: list[Finding] = []
    if jitter > JITTER_LIMIT:
        out.append(Finding("jitter", "warning", f"{src}: the sample period varies by {100 * jitter:.0f}% (std / median "
                           f"{1e3 * period:.3g} ms)", "check the logger's clock: sysid handles irregular rows, but jitter often "
                           "means dropped or late samples", src, "time"))
    gaps = np.flatnonzero(dt > GAP_FACTOR * period)
    if gaps.size:
        worst = gaps[np.argmax(dt[gaps])]
        out.append(Finding("gap", "warning", f"{src}: {gaps.size} gap(s) longer than {GAP_FACTOR:g}x the median period; the "
                           f"longest {dt[worst]:.3g} s after row {worst + 2} (t = {log.time[worst]:.4g} s)",
                           "split the log at the gaps or record again: a window across a gap holds the last command through it",
                           src, "time"))
    if delay > 0 and log.duration < delay:
        out.append(Finding("shorter_than_delay", "warning", f"{src}: the log lasts {1e3 * log.duration:.3g} ms, less than the "
                           f"actuation delay {1e3 * delay:.3g} ms: no logged command acts within it",
                           f"record logs several times longer than the delay (at least {5 * delay:.2g} s)", src, None,
                           tuple(p.name for p in params or () if p.kind == "delay")))

    measured = {signal_name(k, "pos"): v for k, v in log.pos.items()} | {signal_name(k, "vel"): v for k, v in log.vel.items()} \
        | {f"{k}.effort": v for k, v in log.effort.items()}
    names = list(measured)
    values = np.stack([measured[k] for k in names], axis=1) if names else np.zeros((len(log.time), 0))
    smoothed, slope = smooth(log.time, values) if names else (values, values)
    repeat = np.zeros((len(log.time) - 1, len(names)), bool)
    for k, name in enumerate(names):
        x = values[:, k]
        info = _signal_info(log.time, x)
        summary["signals"][name] = info
        step = np.abs(slope[1:, k]) * dt  # expected change per row from the smoothed slope
        extreme = (x[1:] == info["max"]) | (x[1:] == info["min"])  # flat at an extreme: clipping, not a frozen sensor
        repeat[:, k] = (np.diff(x) == 0) & (step > 2 * info["quantum"]) & ~extreme
        out += _frozen(src, name, log.time, x, repeat[:, k])
        out += _clipped(src, name, x, info, np.abs(slope[:, k]) * period)
        joint, _, group = name.rpartition(".")
        moves = np.ptp(smoothed[:, k]) > MOVE_NOISE * info["noise"] + 3 * info["quantum"]
        if group == "pos":
            summary["signals"][name]["moves"] = bool(moves)
        if moves and info["quantum"] > 0 and info["range"] / info["quantum"] < MIN_LEVELS:
            out.append(Finding("quantisation", "warning", f"{src}: {name} is quantised in steps of {info['quantum']:.3g}, only "
                               f"{info['range'] / info['quantum']:.0f} levels across its range", "log the sensor at full resolution, or "
                               "expect its noise level to be the step / sqrt(12)", src, name))
        if moves and info["noise"] > NOISY_LIMIT * np.std(x):
            out.append(Finding("noisy", "warning", f"{src}: {name}'s noise ({info['noise']:.3g}) is {100 * info['noise'] / np.std(x):.0f}% "
                               "of its spread", "log it at a higher resolution or excite larger motions: a noisy signal weighs little "
                               "in the fit", src, name))
        if group == "pos" and not moves:
            out.append(Finding("joint_never_moves", "warning", f"{src}: joint {joint} never moves (range {np.ptp(x):.3g}, noise "
                               f"{info['noise']:.3g})", f"record a motion of {joint}: its parameters cannot be seen in this log", src,
                               name, joint_params(params, joint)))
        if group == "pos" and moves:
            out += _joint_checks(src, joint, log.time, x, smoothed[:, k], info, model, params)
    dup = repeat.all(axis=1) if names else np.zeros(0, bool)
    if dup.size and dup.mean() > DUPLICATE_LIMIT:
        out.append(Finding("duplicate", "warning", f"{src}: {dup.sum()} rows ({100 * dup.mean():.1f}%) repeat the previous row's "
                           f"measurements while the robot moves (first at row {np.argmax(dup) + 2})",
                           "drop rows that repeat an old sample, or log each sample once with its own time stamp", src))
    for name, command in log.ctrl.items():
        summary["signals"][f"{name}.ctrl"] = {"range": float(np.ptp(command)), "min": float(command.min()), "max": float(command.max())}
        out += _command_checks(src, name, command, model, params)
    out += _idle(log)
    return summary, out


def _signal_info(time: np.ndarray, x: np.ndarray) -> dict:
    """Noise std, quantisation step (smallest difference between logged levels; 0 when continuous)
    and range of one signal."""
    steps = np.abs(np.diff(x))
    peak = max(float(np.max(np.abs(x))), 1e-12)
    steps = steps[steps > 1e-9 * peak]
    quantum = float(steps.min()) if steps.size else 0.0
    if quantum and np.mean(np.abs(steps / quantum - np.round(steps / quantum)) < 0.02) < 0.95:
        quantum = 0.0  # the changes are not whole multiples of one step: continuous
    return {"noise": noise_std(time, x), "quantum": quantum, "range": float(np.ptp(x)), "min": float(x.min()), "max": float(x.max())}


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[(start, stop)] of the runs of True in a (N,) mask."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
    return list(zip(edges[::2], edges[1::2]))


def _frozen(src: str, name: str, time: np.ndarray, x: np.ndarray, repeat: np.ndarray) -> list[Finding]:
    """A signal that repeats its value for FROZEN_RUN or more rows while it should be moving."""
    runs = [(a, b) for a, b in _runs(repeat) if b - a + 1 >= FROZEN_RUN]
    if not runs:
        return []
    a, b = max(runs, key=lambda r: r[1] - r[0])
    return [Finding("frozen", "warning", f"{src}: {name} stays at one value while the motion says it should change, {len(runs)} "
                    f"time(s); the longest {time[b] - time[a]:.3g} s from row {a + 2}", "fix the sensor or logger (a stale "
                    "reading), or cut those rows out", src, name)]


def _clipped(src: str, name: str, x: np.ndarray, info: dict, change: np.ndarray) -> list[Finding]:
    """A measured signal that sits at its extreme values in several separate runs, arriving and
    leaving fast (`change` (N,): expected change per row from the smoothed slope, above 2 quantisation
    steps at both ends; a quantised signal turning slowly at its extreme is not clipped)."""
    at = (x == info["max"]) | (x == info["min"])
    n = len(x)
    runs = [(a, b) for a, b in _runs(at) if b - a >= 3
            and all(change[i] > 2 * info["quantum"] for i in (a - 1, b) if 0 <= i < n)]
    if len(runs) < CLIP_RUNS or at.mean() < 0.01:
        return []
    return [Finding("clipped", "warning", f"{src}: {name} is flat at its extreme values ({info['min']:.4g}, {info['max']:.4g}) in "
                    f"{len(runs)} separate stretches ({100 * at.mean():.1f}% of rows): the sensor or its logging clips",
                    "widen the sensor's range or leave those rows out: clipped samples pull the fit", src, name)]


def _joint_checks(src: str, joint: str, time: np.ndarray, x: np.ndarray, smoothed: np.ndarray, info: dict,
                  model: mujoco.MjModel, params: ParamSet | None) -> list[Finding]:
    """Angle wraps, positions at joint limits, motion in one direction only."""
    out = []
    j = model.joint(joint).id
    name = f"{joint}.pos"
    jumps = np.flatnonzero(np.abs(np.diff(x)) > np.pi)
    if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE and jumps.size:
        out.append(Finding("angle_wrap", "error", f"{src}: {name} jumps by about 2 pi {jumps.size} time(s), first after row "
                           f"{jumps[0] + 2} ({x[jumps[0]]:.3g} -> {x[jumps[0] + 1]:.3g} rad): the angle is wrapped",
                           f"add 'unwrap: true' to {name}'s entry in the --map file", src, name, joint_params(params, joint)))
    if model.jnt_limited[j]:
        lo, hi = model.jnt_range[j]
        band = LIMIT_BAND * (hi - lo)
        at = (x <= lo + band) | (x >= hi - band)
        if at.mean() > SATURATION_LIMIT:
            out.append(Finding("joint_at_limit", "warning", f"{src}: {name} is at its range [{lo:.3g}, {hi:.3g}] in "
                               f"{100 * at.mean():.1f}% of rows", "keep the motion off the joint limits (or fit the limit's "
                               "solref): contact with the stop dominates those rows", src, name, joint_params(params, joint)))
    tol = 5 * info["noise"] + 2 * info["quantum"]
    back_up = np.max(np.maximum.accumulate(smoothed) - smoothed)
    back_down = np.max(smoothed - np.minimum.accumulate(smoothed))
    if min(back_up, back_down) < tol:
        friction = tuple(p for p in joint_params(params, joint) if p.startswith("frictionloss@"))
        out.append(Finding("one_direction", "warning" if friction else "info", f"{src}: joint {joint} only moves "
                           f"{'up' if back_up < tol else 'down'}: its Coulomb friction acts as a constant torque, which any "
                           "constant torque (gravity, a bias) can stand in for", f"record {joint} moving both ways (a command that "
                           "reverses)", src, name, friction))
    return out


def _command_checks(src: str, name: str, command: np.ndarray, model: mujoco.MjModel, params: ParamSet | None) -> list[Finding]:
    """A command that never changes, saturates at ctrlrange or lies beyond it."""
    signal = f"{name}.ctrl"
    a = model.actuator(name).id
    if np.ptp(command) <= 1e-9 * max(1.0, float(np.max(np.abs(command)))):
        return [Finding("command_never_changes", "warning", f"{src}: {signal} is {command[0]:.4g} throughout",
                        f"record a varying command on {name}: its gain and the delay cannot be seen", src, signal,
                        actuator_params(params, name))]
    out = []
    if model.actuator_ctrllimited[a]:
        lo, hi = model.actuator_ctrlrange[a]
        band = 1e-3 * (hi - lo)
        beyond = (command < lo - band) | (command > hi + band)
        at = ~beyond & ((command <= lo + band) | (command >= hi - band))
        if beyond.any():
            out.append(Finding("command_out_of_range", "warning", f"{src}: {signal} leaves ctrlrange [{lo:.4g}, {hi:.4g}] in "
                               f"{beyond.sum()} rows (first row {np.argmax(beyond) + 2}: {command[np.argmax(beyond)]:.4g}); "
                               "MuJoCo clamps it", "correct ctrlrange in the model or the command's scale in the --map file",
                               src, signal, actuator_params(params, name)))
        if at.mean() > SATURATION_LIMIT:
            out.append(Finding("command_saturated", "warning", f"{src}: {signal} sits at its ctrlrange limit in "
                               f"{100 * at.mean():.1f}% of rows", "lower the command amplitude: while saturated the robot's "
                               "response says little about the actuator", src, signal, actuator_params(params, name)))
    return out


def _idle(log: Log) -> list[Finding]:
    """Idle rows (no motion, no command change) at the start and end above IDLE_LIMIT of the log."""
    start, stop = active_rows(log)
    idle = (log.time[start] - log.time[0]) + (log.time[-1] - log.time[stop - 1])
    if idle <= IDLE_LIMIT * log.duration or stop - start <= 2:
        return []
    return [Finding("idle", "warning", f"{log.source}: {idle:.3g} s of {log.duration:.3g} s are idle at the start and end "
                    f"(nothing moves, no command changes)", "pass --trim-idle to sysid fit, or trim the log", log.source)]


__all__ = ["log_quality"]
