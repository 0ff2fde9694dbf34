"""Benchmark: the default `sysid fit` against a plain least-squares fit, on arm2 and arm6.

The plain baseline is what one writes by hand in an afternoon: parameters searched as logarithms
(the delay as is), residuals (simulated - logged) / noise of positions and velocities over
back-to-back windows started from the logged (noisy) states, the forward-difference Jacobian
batched with the residuals into one `mujoco.rollout` call, scipy's least_squares ("trf", bounds,
x_scale "jac") on horizons of 1 s, then 2 s, then 4 s, then the whole log, each from the last's
answer. The same logs, bounds, start values and threads go to `sysid.fit` with its default
FitConfig.

* arm2: the bundled 2-link arm (8 unknowns: mass, damping, frictionloss, armature), an 8 s log at
  500 Hz, start values as in benchmarks/arm2_recovery.py (log-uniform factors in [0.5, 2]).
* arm6: datasets/arm6, six position servos (24 unknowns: damping, frictionloss, armature, kp of
  every joint) plus an actuation delay of 12 ms (25 unknowns), a 10 s multisine of position
  targets at the 250 Hz model rate; start values: arm6.xml's (0.6-1.6x off the truth), delay 5 ms.

Run from the repository root:

    .venv/bin/python benchmarks/baseline_lsq.py [--robots arm2,arm6] [--seed 0]
"""

from __future__ import annotations

import argparse
import copy
import json
import pathlib
import sys
import time

import mujoco
import numpy as np
from mujoco import rollout as mj_rollout
from scipy import optimize

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "datasets" / "arm6"))

from sysid.data import Log  # noqa: E402
from sysid.fit import FitConfig, fit  # noqa: E402
from sysid.params import parse_params  # noqa: E402
from sysid.sim import default_threads, held_controls  # noqa: E402

SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS
FD_STEP = 1e-6  # in log(value) (delay: in s)
ARM6_DELAY = 0.012  # s


def write(model: mujoco.MjModel, name: str, value: float) -> None:
    """Set parameter `name` (KIND@TARGET) of `model` to value."""
    kind, _, target = name.partition("@")
    if kind == "mass":
        model.body_mass[model.body(target).id] = value
    elif kind == "kp":
        a = model.actuator(target).id
        model.actuator_gainprm[a, 0], model.actuator_biasprm[a, 1] = value, -value
    elif kind != "delay":
        getattr(model, f"dof_{kind}")[model.joint(target).dofadr[0]] = value


class Plain:
    """Multiple-shooting residuals of one log over windows of a horizon, batched candidates."""

    def __init__(self, model: mujoco.MjModel, log: Log, names: list[str], sigma: tuple[float, float], nthread: int):
        self.model, self.log, self.names, self.sigma = model, log, names, sigma
        self.joints = list(log.pos)
        self.pool = mj_rollout.Rollout(nthread=nthread)
        self.datas = [mujoco.MjData(model) for _ in range(nthread)]
        self.copies: list[mujoco.MjModel] = []
        self.delay = names.index("delay") if "delay" in names else None
        self.steps = 0  # model steps simulated

    def horizon(self, seconds: float) -> None:
        """Cut the log into back-to-back windows of `seconds` (inf: the whole log)."""
        dt, n = self.model.opt.timestep, len(self.log.time)
        stride = n - 1 if not np.isfinite(seconds) else max(1, int(round(seconds / dt)))
        self.starts = np.arange(0, n - 1, stride)
        self.nstep = stride
        data = mujoco.MjData(self.model)
        self.initial = np.empty((len(self.starts), mujoco.mj_stateSize(self.model, SPEC)))
        for w, row in enumerate(self.starts):
            data.qpos[:] = [self.log.pos[j][row] for j in self.joints]
            data.qvel[:] = [self.log.vel[j][row] for j in self.joints]
            mujoco.mj_getState(self.model, data, self.initial[w], SPEC)
        rows = self.starts[:, None] + 1 + np.arange(stride)[None, :]  # (W, nstep) log rows after each step
        self.valid = rows < n
        self.rows = np.minimum(rows, n - 1)
        logged = np.stack([self.log.pos[j] for j in self.joints] + [self.log.vel[j] for j in self.joints], axis=1)
        self.target = logged[self.rows]  # (W, nstep, 2 nq)
        self.scale = np.repeat(self.sigma, len(self.joints))

    def values(self, z: np.ndarray) -> np.ndarray:
        v = np.exp(z)
        if self.delay is not None:
            v[..., self.delay] = z[..., self.delay]
        return v

    def residuals(self, z: np.ndarray) -> np.ndarray:
        """(B, n) search vectors -> (B, m) residuals, one rollout call for all candidates and windows."""
        values = self.values(np.atleast_2d(z))
        while len(self.copies) < len(values):
            self.copies.append(copy.copy(self.model))
        ctrl = np.stack([self.log.ctrl[a] for a in self.log.ctrl], axis=1)
        controls, models = [], []
        for model, v in zip(self.copies, values):
            for name, value in zip(self.names, v):
                write(model, name, value)
            delay = v[self.delay] if self.delay is not None else 0.0
            controls.append(held_controls(self.log.time, ctrl, self.log.time[self.starts], self.nstep, self.model.opt.timestep, delay))
            models += [model] * len(self.starts)
        initial = np.tile(self.initial, (len(values), 1))
        states, _ = self.pool.rollout(models, self.datas, initial, np.concatenate(controls), control_spec=mujoco.mjtState.mjSTATE_CTRL,
                                      nstep=self.nstep)
        self.steps += len(models) * self.nstep
        nq = len(self.joints)
        sim = np.concatenate([states[..., 1 : 1 + nq], states[..., 1 + nq : 1 + 2 * nq]], axis=-1)
        sim = sim.reshape(len(values), len(self.starts), self.nstep, -1)
        r = np.where(self.valid[None, :, :, None], (sim - self.target[None]) / self.scale, 0.0)
        return np.nan_to_num(r.reshape(len(values), -1), nan=1e4, posinf=1e4, neginf=-1e4)

    def fit(self, z0: np.ndarray, lower: np.ndarray, upper: np.ndarray, horizons=(1.0, 2.0, 4.0, np.inf)) -> np.ndarray:
        z = z0.copy()
        for h in horizons:
            self.horizon(h)
            cache = {}

            def fun(x):
                cache.clear()
                cache[x.tobytes()] = r = self.residuals(x[None])[0]
                return r

            def jac(x):
                batch = x[None] + FD_STEP * np.eye(len(x))
                base = cache.get(x.tobytes())
                if base is None:  # one rollout call for the point and its perturbations
                    out = self.residuals(np.concatenate([x[None], batch]))
                    base, out = out[0], out[1:]
                else:
                    out = self.residuals(batch)
                return ((out - base[None]) / FD_STEP).T

            z = optimize.least_squares(fun, np.clip(z, lower, upper), jac=jac, bounds=(lower, upper), method="trf",
                                       x_scale="jac", ftol=1e-8, xtol=1e-8, max_nfev=100).x
        return self.values(z)


def arm2(seed: int) -> tuple:
    import mujoco_sysid_baseline as baseline
    from arm2_recovery import frame_to_log

    generate = baseline._load_generate()
    truth = {n: float(generate.TRUTH[n]) for n in baseline.PARAMETER_NAMES}
    model = mujoco.MjModel.from_xml_path(str(baseline.ARM2_XML))
    initial, lower, upper = baseline.benchmark_start(truth, seed)
    log = frame_to_log(generate.make_log(8.0, seed), f"arm2 seed {seed}")
    return model, log, "mass,damping,frictionloss,armature", truth, initial, lower, upper, (generate.POS_NOISE, generate.VEL_NOISE)


def arm6(seed: int) -> tuple:
    import generate

    model = mujoco.MjModel.from_xml_path(str(generate.MODEL))
    dt, rng = model.opt.timestep, np.random.default_rng(seed)
    time_ = np.arange(int(round(10.0 / dt)) + 1) * dt
    freqs = np.geomspace(0.2, 2.0, 6)
    amp = np.array([0.5, 0.35, 0.5, 0.7, 0.6, 0.8])
    ctrl = np.stack([a * np.sin(2 * np.pi * freqs[None] * time_[:, None] + rng.uniform(0, 2 * np.pi, 6)).sum(1) / 3 for a in amp], 1)
    shift = int(round(ARM6_DELAY / dt))
    seen = np.concatenate([np.repeat(ctrl[:1], shift, 0), ctrl[:-shift]])  # the plant sees the command 12 ms late
    frame = generate.record(time_, seen, seed)
    col = lambda name: frame[name].to_numpy(float)  # noqa: E731
    log = Log(f"arm6 seed {seed}", col("time"), {j: col(f"{j}.pos") for j in generate.JOINTS},
              {j: col(f"{j}.vel") for j in generate.JOINTS}, {}, {a: ctrl[:, k] for k, a in enumerate(generate.ACTUATORS)})
    truth = {**generate.TRUTH, "delay": ARM6_DELAY}
    nominal = parse_params(generate.PARAMS, model)
    initial = {**dict(zip(nominal.names, nominal.initial)), "delay": 0.005}
    lower = {n: v / 10 for n, v in truth.items()} | {"delay": 0.0}
    upper = {n: v * 10 for n, v in truth.items()} | {"delay": 0.05}
    return model, log, generate.PARAMS + ",delay", truth, initial, lower, upper, (generate.POS_NOISE, generate.VEL_NOISE)


def compare(robot: str, seed: int) -> dict:
    model, log, spec, truth, initial, lower, upper, sigma = {"arm2": arm2, "arm6": arm6}[robot](seed)
    overrides = {n: {"initial": initial[n], "lower": lower[n], "upper": upper[n]} for n in truth}
    params = parse_params(spec, model, overrides=overrides)
    names = params.names
    nthread = default_threads()
    result = fit(model, [log], params, FitConfig(seed=seed), progress=False)
    ours = dict(zip(names, result.values))
    plain = Plain(model, log, names, sigma, nthread)
    log_or_lin = lambda d: np.array([d[n] if n == "delay" else np.log(d[n]) for n in names])  # noqa: E731
    start = time.perf_counter()
    theirs = dict(zip(names, plain.fit(log_or_lin(initial), log_or_lin(lower), log_or_lin(upper))))
    plain_wall = time.perf_counter() - start
    err = lambda v: {n: abs(v[n] - truth[n]) / max(abs(truth[n]), 1e-3) for n in names}  # noqa: E731
    row = {"robot": robot, "seed": seed, "unknowns": len(names), "nthread": nthread}
    for label, values, wall, steps in (("sysid", ours, result.wall_time_s, result.sim_steps),
                                       ("plain lsq", theirs, plain_wall, plain.steps)):
        e = err(values)
        row[label] = {"wall_s": wall, "sim_steps": steps, "max_rel_err": max(e.values()), "median_rel_err": float(np.median(list(e.values()))),
                      "worst": max(e, key=e.get), "values": {n: float(v) for n, v in values.items()}}
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--robots", default="arm2,arm6")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = []
    print("| robot | unknowns | tool | wall s | sim steps | max rel err | median rel err |")
    print("|---|---|---|---|---|---|---|")
    for robot in args.robots.split(","):
        row = compare(robot, args.seed)
        rows.append(row)
        for label in ("sysid", "plain lsq"):
            r = row[label]
            print(f"| {robot} | {row['unknowns']} | {label} | {r['wall_s']:.1f} | {r['sim_steps']:.3g} | "
                  f"{100 * r['max_rel_err']:.2f}% ({r['worst']}) | "
                  f"{100 * r['median_rel_err']:.2f}% |", flush=True)
    out = REPO / "benchmarks" / "out" / "baseline_lsq.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
