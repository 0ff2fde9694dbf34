"""What `sysid excite` writes: the command CSVs, the plot of the planned motion, excite.json, a table.

`plan.csv` (and `baseline.csv`) follow sysid's log schema: `time`, one `<actuator>.ctrl` column
per actuator (the commands to play, zero-order held), and the predicted `<joint>.pos` and
`<joint>.vel`, so that a recording can be checked against the plan.
"""

from __future__ import annotations

import io as _io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sysid import io
from sysid.excite.design import Design, Plan
from sysid.params import KINDS


def plan_frame(design: Design, plan: Plan) -> pd.DataFrame:
    """The plan as a table in sysid's log schema: time, <actuator>.ctrl, <joint>.pos, <joint>.vel."""
    act = design.planner.act
    columns = {"time": plan.time}
    for j, name in enumerate(act.actuators):
        columns[f"{name}.ctrl"] = plan.ctrl[:, j]
    for j, name in enumerate(act.joints):
        columns[f"{name}.pos"] = plan.qpos[:, j]
        columns[f"{name}.vel"] = plan.qvel[:, j]
    return pd.DataFrame(columns)


def write_csv(path: io.PathLike, frame: pd.DataFrame) -> None:
    """Atomically write a plan table as CSV."""
    buffer = _io.StringIO()
    frame.to_csv(buffer, index=False, float_format="%.10g")
    io.write_text(path, buffer.getvalue())


def plot_plan(path: io.PathLike, design: Design) -> None:
    """PNG of the planned motion: per joint, predicted position (and a servo's target) and velocity,
    with the baseline multisine in grey and the limits dashed."""
    planner, plan, base = design.planner, design.plan, design.baseline
    act, lim = planner.act, planner.limits
    njoint = len(act.joints)
    fig = Figure(figsize=(11, 0.8 + 1.9 * njoint), layout="constrained")
    axes = fig.subplots(njoint, 2, sharex=True, squeeze=False)
    for j, joint in enumerate(act.joints):
        ax_q, ax_v = axes[j]
        ax_q.plot(base.time, base.qpos[:, j], color="0.7", lw=0.8, label="baseline multisine")
        if act.kinds[j] == "position":
            ax_q.plot(plan.time, plan.ctrl[:, j], color="tab:orange", lw=0.8, ls="--", label="target (command)")
        ax_q.plot(plan.time, plan.qpos[:, j], color="tab:blue", lw=1.0, label="plan (predicted)")
        ax_v.plot(base.time, base.qvel[:, j], color="0.7", lw=0.8)
        ax_v.plot(plan.time, plan.qvel[:, j], color="tab:blue", lw=1.0)
        for ax, bounds in ((ax_q, (lim.pos_lo[j], lim.pos_hi[j])), (ax_v, (-lim.vel[j], lim.vel[j]))):
            for bound in bounds:
                if np.isfinite(bound):
                    ax.axhline(bound, color="tab:red", lw=0.8, ls=":")
        ax_q.set_ylabel(f"{joint}.pos")
        ax_v.set_ylabel(f"{joint}.vel")
    axes[0, 0].legend(loc="upper right", fontsize="small")
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    cfg = planner.config
    fig.suptitle(f"{plan.family} plan, {cfg.duration:g} s, criterion {cfg.criterion}: {plan.criterion:.3f} "
                 f"(baseline {base.criterion:.3f}); dotted: limits")
    io.save_figure(fig, path)


def summary(design: Design, *, combined_std: np.ndarray | None = None, extra: dict | None = None) -> dict:
    """excite.json's content: per-parameter predicted standard errors of the plan and the baseline
    (and `combined_std` (n,), of the plan fitted together with the earlier data), the criterion,
    the limits and how close each plan comes to them."""
    planner, cfg = design.planner, design.planner.config
    act = planner.act
    params = {}
    for i, p in enumerate(design.params):
        entry = {"value": float(design.values[i]), "std": float(design.plan.std[i]), "std_baseline": float(design.baseline.std[i]),
                 "unit": KINDS[p.kind].unit}
        if combined_std is not None:
            entry["std_combined"] = float(combined_std[i])
        params[p.name] = entry
    peak = lambda plan: {k: {name: float(v) for name, v in zip(act.joints if k in ("position", "velocity", "acceleration") else act.actuators, r)}  # noqa: E731
                         for k, r in plan.ratios.items()}
    return {
        "params": params,
        "criterion": {"kind": cfg.criterion, "plan": design.plan.criterion, "baseline": design.baseline.criterion},
        "family": cfg.family,
        "duration_s": cfg.duration,
        "rate_hz": float(1.0 / (planner.time[1] - planner.time[0])),
        "rows": len(planner.time),
        "band_hz": [cfg.min_freq if cfg.min_freq is not None else 1.0 / cfg.duration, cfg.max_freq],
        "noise": {"pos": cfg.pos_noise, "vel": cfg.vel_noise},
        "fit_horizon_s": cfg.horizon,
        "limits": planner.limits.as_dict(act),
        "limit_ratios": {"plan": peak(design.plan), "baseline": peak(design.baseline)},
        "evaluations": design.evaluations,
        "wall_time_s": design.wall_time_s,
        "seed": cfg.seed,
        **(extra or {}),
    }


def format_table(summary: dict) -> str:
    """The predicted standard errors, plan vs baseline, one row per parameter."""
    lines = [f"{'parameter':<26}{'value':>11}{'std plan':>11}{'std base':>11}{'base/plan':>11}"]
    for name, p in summary["params"].items():
        gain = p["std_baseline"] / p["std"] if p["std"] and np.isfinite(p["std"]) else float("nan")
        lines.append(f"{name:<26}{p['value']:>11.4g}{p['std']:>11.3g}{p['std_baseline']:>11.3g}{gain:>10.2f}x")
    crit = summary["criterion"]
    lines.append(f"criterion {crit['kind']}: plan {crit['plan']:.4g}, baseline multisine {crit['baseline']:.4g} (lower is better); "
                 f"{summary['evaluations']} candidates in {summary['wall_time_s']:.1f} s")
    return "\n".join(lines)
