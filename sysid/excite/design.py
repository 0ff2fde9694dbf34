"""Optimal excitation design: the set-up of a design (`Planner`), plans, and `design`.

Every candidate goes through the same steps:
1. the family turns its coefficients into an excursion per joint (`sysid.excite.families`), and
   `sysid.excite.actuation` into commands (for a position servo following a joint trajectory,
   the target plus the feedforward fraction the coefficients give);
2. projection: each joint's excursion is scaled so that the planned motion or command uses
   `PROJECT_TO` of the room to its tightest limit (position, velocity, acceleration, ctrlrange);
3. the current model runs the plans from rest (one batched rollout for all candidates of a
   generation), which gives the predicted measurements and how close the simulated motion comes
   to every limit; joints that cross one are shrunk and those plans run again (a few times);
4. the Fisher information of the predicted measurements (`sysid.excite.information`, one
   batched finite-difference rollout for the whole generation) gives the criterion.
CMA-ES searches the coefficients (`sysid.excite.search`, a limit still crossed is penalised);
the winner is then shrunk until its simulation respects every limit, and scored on every window.
"""

from __future__ import annotations

import copy
import dataclasses
import time as _time
from collections.abc import Callable

import mujoco
import numpy as np

from sysid.errors import UserError
from sysid.excite import actuation, limits as limits_mod
from sysid.excite.config import ExciteConfig
from sysid.excite.families import Family, make_family, multisine_family
from sysid.excite.information import criterion, fisher, predicted_std, predicted_track
from sysid.excite.search import search
from sysid.params import ParamSet
from sysid.sim import Simulator, held_controls

PROJECT_TO = 0.9  # planned motion uses this fraction of the room to its tightest limit
SHRINK_TO = 0.97  # a joint whose simulation crosses a limit is scaled to this fraction of it
ACCEPT = 0.99  # a final plan comes at most this close to any limit
MAX_SHRINK = 40  # shrink steps of a final plan


@dataclasses.dataclass(frozen=True)
class Plan:
    """A planned experiment and what the current model predicts for it.

    Attributes:
      name: "plan" or "baseline".
      family: the signal family.
      time: (N,) s, the command rows.
      ctrl: (N, J) commands, one column per actuator.
      qpos, qvel: (N, J) predicted joint positions and velocities at the rows.
      info: (n, n) Fisher information in the unit box.
      std: (n,) predicted standard errors of the parameters (parameter units).
      criterion: the design criterion of `info` (lower is better).
      ratios: limit kind -> (J,) the largest simulated fraction of the room to that limit (<= 1).
      scale: (J,) the factor each joint's excursion was shrunk by after projection.
    """

    name: str
    family: str
    time: np.ndarray
    ctrl: np.ndarray
    qpos: np.ndarray
    qvel: np.ndarray
    info: np.ndarray
    std: np.ndarray
    criterion: float
    ratios: dict[str, np.ndarray]
    scale: np.ndarray


class Planner:
    """Everything fixed while a design runs: the model at the current estimate, its rest state,
    the time grid, the limits and the signal family.

    Args:
      model: the compiled model (never modified); `params.initial` is the current estimate.
      params: the parameters to learn about.
      config: the design settings.
    """

    def __init__(self, model: mujoco.MjModel, params: ParamSet, config: ExciteConfig):
        self.config, self.params = config, params
        self.values = params.initial
        self.nominal = copy.copy(model)
        params.write(self.nominal, self.values, mujoco.MjData(self.nominal))
        self.act = act = actuation.Actuation.from_model(model)
        dt = model.opt.timestep
        self.every = max(1, int(round(1.0 / (config.rate * dt)))) if config.rate else 1
        nrow = int(round(config.duration / (self.every * dt))) + 1
        if nrow < 3:
            raise UserError(f"--duration {config.duration:g}: a plan needs at least 3 command rows at {1 / (self.every * dt):g} Hz")
        self.time = np.arange(nrow) * self.every * dt
        if config.max_freq > 0.25 / (self.every * dt):
            raise UserError(f"--max-freq {config.max_freq:g} Hz: keep it below a quarter of the command rate ({1 / (self.every * dt):g} Hz)")
        self.q_start = model.qpos0[act.qadr].copy()
        self.rest_ctrl = actuation.rest_command(self.nominal, act, self.q_start)
        self.qpos0, self.qvel0 = actuation.settle(self.nominal, act, self.rest_ctrl, self.q_start)
        self.limits = limits_mod.Limits.from_model(model, act, self.q_start, max_vel=config.max_vel, max_acc=config.max_acc, amplitude=config.amplitude)
        q_rest = self.qpos0[act.qadr]
        self.rest = {"position": q_rest, "ctrl": self.rest_ctrl, "force": act.force(self.rest_ctrl, q_rest, np.zeros(len(q_rest)))}
        self.limits.check_rest(act, q_rest, self.rest_ctrl, self.rest["force"])
        f_lo = config.min_freq if config.min_freq is not None else 1.0 / config.duration
        self.family = make_family(config.family, self.time, len(act.joints), f_lo=f_lo, f_hi=config.max_freq, lines=config.lines,
                                  servo_feedforward="position" in act.kinds)
        self.sim = Simulator(model, params, nthread=config.nthread)
        self.evaluations = 0

    def close(self) -> None:
        self.sim.close()

    def baseline_family(self, *, phases: str = "schroeder", seed: int = 0) -> Family:
        """A flat multisine over the same band with Schroeder (or random) phases: the reference design."""
        f_lo = self.config.min_freq if self.config.min_freq is not None else 1.0 / self.config.duration
        return multisine_family(self.time, len(self.act.joints), f_lo, self.config.max_freq, self.config.lines, phases=phases, seed=seed)

    # --- candidates ---------------------------------------------------------------------------

    def commands(self, family: Family, theta: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """(dim,) coefficients and (J,) extra scale -> (N, J) commands, projected onto the limits."""
        x = family.excursion(theta)
        planned = self._planned(family, x)
        room = limits_mod.worst(limits_mod.ratios(self.limits, self.rest | {"position": self.q_start}, planned))[0]
        moving = np.abs(x).max(axis=0) > 0
        if np.any(moving & (room == 0)):
            j = int(np.argmax(moving & (room == 0)))
            raise UserError(f"joint {self.act.joints[j]}: nothing bounds its {'motion' if family.joint_space else 'command'}; "
                            "give --amplitude, --max-vel, a joint range or a ctrlrange")
        x = x * (PROJECT_TO / np.where(moving, room, 1.0) * scale)
        return actuation.commands(self.nominal, self.act, self.time, x, joint_space=family.joint_space, q_start=self.q_start,
                                  rest_ctrl=self.rest_ctrl, feedforward=family.feedforward(theta))

    def _planned(self, family: Family, x: np.ndarray) -> dict[str, np.ndarray]:
        """The planned quantities that projection bounds, each (1, N, J)."""
        kinds = np.array(self.act.kinds)
        if family.joint_space:
            xd = np.gradient(x, self.time, axis=0)
            out = {"position": self.q_start + x, "velocity": xd, "acceleration": np.gradient(xd, self.time, axis=0)}
            out["ctrl"] = np.where(kinds == "position", self.q_start + x, np.where(kinds == "velocity", xd, self.rest_ctrl))
        else:
            # A position servo's target is a joint trajectory: a smooth one is bounded like one.
            servo = kinds == "position"
            xd = np.gradient(x, self.time, axis=0) if family.smooth else np.zeros_like(x)
            out = {"ctrl": self.rest_ctrl + x, "position": np.where(servo, self.q_start + x, self.q_start),
                   "velocity": np.where(kinds == "velocity", x, np.where(servo, xd, 0.0)),
                   "acceleration": np.where(servo, np.gradient(xd, self.time, axis=0), 0.0)}
        return {k: v[None] for k, v in out.items()}

    def simulate(self, ctrl: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
        """Run P plans (P, N, J) on the current model from the rest state, in one batched rollout.

        Returns the simulated motion (kind -> (P, T, J) at every model step), the full qpos
        (P, N, nq) and qvel (P, N, nv) at the rows, and (P,) False where a plan diverged.
        """
        m, dt, nplan = self.nominal, self.nominal.opt.timestep, len(ctrl)
        nstep = (len(self.time) - 1) * self.every
        control = np.concatenate([held_controls(self.time, c, np.zeros(1), nstep, dt, 0.0) for c in ctrl])
        initial = self.sim.initial_states(np.tile(self.qpos0, (nplan, 1)), np.tile(self.qvel0, (nplan, 1)))
        states, ok = self.sim.rollout([m] * nplan, initial, control)
        states = np.concatenate([initial[:, None], states], axis=1)
        qpos, qvel = states[:, :, self.sim.qpos_slice], states[:, :, self.sim.qvel_slice]
        q, v = qpos[:, :, self.act.qadr], qvel[:, :, self.act.dadr]
        motion = {"position": q, "velocity": v, "acceleration": np.diff(v, axis=1) / dt, "ctrl": control,
                  "force": self.act.force(control, q[:, :-1], v[:, :-1])}
        rows = np.arange(len(self.time)) * self.every
        return motion, qpos[:, rows], qvel[:, rows], ok

    def shrink(self, family: Family, thetas: np.ndarray, *, iterations: int) -> tuple[np.ndarray, dict]:
        """Scale each joint of P candidates (P, dim) down until its simulation respects every limit,
        for at most `iterations` batched rollouts. Returns the scales (P, J) and the last simulation:
        ctrl (P, N, J), qpos (P, N, nq), qvel (P, N, nv), ratios kind -> (P, J), ok (P,)."""
        nplan = len(thetas)
        scales = np.ones((nplan, len(self.act.joints)))
        before = np.full(nplan, np.inf)
        todo = np.arange(nplan)  # candidates still crossing a limit: only they run again
        for i in range(iterations):
            ctrl_i = np.stack([self.commands(family, thetas[p], scales[p]) for p in todo])
            motion, qpos_i, qvel_i, ok_i = self.simulate(ctrl_i)
            ratios_i = limits_mod.ratios(self.limits, self.rest, motion)
            if i == 0:
                ctrl, qpos, qvel, ok = ctrl_i, qpos_i, qvel_i, ok_i
                ratios = ratios_i
            else:
                ctrl[todo], qpos[todo], qvel[todo], ok[todo] = ctrl_i, qpos_i, qvel_i, ok_i
                for kind, value in ratios_i.items():
                    ratios[kind][todo] = value
            worst = limits_mod.worst(ratios_i)
            peak = worst.max(axis=1)
            done = ok_i & (peak <= ACCEPT)
            if done.all() or i == iterations - 1:
                break
            # Shrink the joints that cross a limit, at most 20% per step (past a joint limit the
            # motion is not linear in the scale); when that does not help, the crossing comes
            # from the other joints' motion: shrink them all.
            own = np.clip(SHRINK_TO / np.maximum(worst, 1e-12), 0.8, 1.0)
            stuck = peak > 0.99 * before[todo]
            step = np.where(stuck[:, None], own.min(axis=1, keepdims=True), own)
            step = np.where(ok_i[:, None], step, 0.5)
            scales[todo] *= step
            before[todo] = peak
            todo = todo[~done]
        return scales, {"ctrl": ctrl, "qpos": qpos, "qvel": qvel, "ratios": ratios, "ok": ok}

    def evaluate(self, family: Family, thetas: np.ndarray, *, iterations: int, windows: int | None = None) -> tuple[np.ndarray, dict]:
        """Shrink P candidates (P, dim) onto the limits (`shrink`), then compute their information.
        Returns the scales (P, J) and `shrink`'s dict plus info (P, n, n) (and ok False where a
        window diverged)."""
        scales, out = self.shrink(family, thetas, iterations=iterations)
        cfg = self.config
        tracks = [predicted_track(self.nominal, self.act, self.time, c, qp, qv, pos_noise=cfg.pos_noise, vel_noise=cfg.vel_noise, source=f"candidate {i}")
                  for i, (c, qp, qv) in enumerate(zip(out["ctrl"], out["qpos"], out["qvel"]))]
        info, good = fisher(self.sim, self.values, tracks, cfg.horizon, windows=windows)
        self.evaluations += len(thetas)
        out.update(info=info, ok=out["ok"] & good)
        return scales, out

    # --- final plans -----------------------------------------------------------------------------

    def finish(self, family: Family, theta: np.ndarray, *, name: str = "plan", prior: np.ndarray | None = None) -> Plan:
        """Shrink a candidate joint by joint until its simulation respects every limit, then
        compute its information over every window."""
        scales, out = self.evaluate(family, theta[None], iterations=MAX_SHRINK)
        ratios = out["ratios"]
        if not out["ok"][0] or limits_mod.worst(ratios).max() > ACCEPT:
            kind = max(ratios, key=lambda k: ratios[k][0].max())
            j = int(np.argmax(ratios[kind][0]))
            raise UserError(f"no {name} within the limits: the simulated {kind} of {self.act.joints[j]} still reaches "
                            f"{ratios[kind][0, j]:.2f} x its room after shrinking; widen the limits or lower --max-freq")
        info = out["info"][0]
        return Plan(name=name, family=family.name, time=self.time, ctrl=out["ctrl"][0], qpos=out["qpos"][0][:, self.act.qadr],
                    qvel=out["qvel"][0][:, self.act.dadr], info=info, std=predicted_std(self.params, self.values, info),
                    criterion=float(criterion(info + (0 if prior is None else prior), self.config.criterion)),
                    ratios={k: v[0] for k, v in out["ratios"].items()}, scale=scales[0])


@dataclasses.dataclass(frozen=True)
class Design:
    """The outcome of `design`: the optimised plan and the baseline multisine of equal length.

    Attributes:
      plan, baseline: the two experiments with their predicted standard errors.
      params, values: the parameters and the current estimate (n,) the design was made around.
      planner: the fixed set-up (actuators, limits, rest state, time grid).
      history: (evaluations, best criterion) after each generation.
      evaluations: candidates scored; wall_time_s: seconds.
    """

    plan: Plan
    baseline: Plan
    params: ParamSet
    values: np.ndarray
    planner: Planner
    history: list[tuple[int, float]]
    evaluations: int
    wall_time_s: float


def design(model: mujoco.MjModel, params: ParamSet, config: ExciteConfig, *, prior: np.ndarray | None = None,
           on_generation: Callable[[int, float], None] | None = None) -> Design:
    """Plan the experiment of `config.duration` seconds that is most informative about `params`
    around their current values (`params.initial`); `prior` (n, n) is the unit-box information
    already gathered (sequential design)."""
    start = _time.perf_counter()
    planner = Planner(model, params, config)
    try:
        theta, history = search(planner, prior=prior, on_generation=on_generation)
        plan = planner.finish(planner.family, theta, name="plan", prior=prior)
        base_family = planner.baseline_family()
        baseline = planner.finish(base_family, np.ones(base_family.dim), name="baseline", prior=prior)
    finally:
        planner.close()
    return Design(plan, baseline, params, planner.values, planner, history, planner.evaluations, _time.perf_counter() - start)
