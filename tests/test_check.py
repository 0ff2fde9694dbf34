"""`sysid check`: data-quality findings, identifiability verdicts and predicted errors, remedies, the fit hook."""

from __future__ import annotations

import dataclasses
import json

import mujoco
import numpy as np
import pytest
from conftest import PENDULUM_XML, TRUTH, make_log, multisine, simulate, with_values, write_csv

from sysid.check import check_logs, log_quality, prepare_params
from sysid.cli import DEMO_DIR, DEMO_PARAMS, main
from sysid.config import ConfigFile
from sysid.data import Log
from sysid.fit import FitConfig, fit
from sysid.model import load_model
from sysid.params import parse_params
from conftest import load_generator

# Two independent pendulums: "ja" is driven, "jb" can be held still.
TWO_XML = """\
<mujoco>
  <option timestep="0.002" integrator="implicitfast"/>
  <worldbody>
    <body name="a" pos="0 0 1">
      <joint name="ja" type="hinge" axis="0 1 0" damping="0.2" frictionloss="0.1" armature="0.02"/>
      <inertial pos="0 0 -0.3" mass="1" diaginertia="0.01 0.01 0.001"/>
    </body>
    <body name="b" pos="1 0 1">
      <joint name="jb" type="hinge" axis="0 1 0" damping="0.2" frictionloss="0.1" armature="0.02"/>
      <inertial pos="0 0 -0.3" mass="1" diaginertia="0.01 0.01 0.001"/>
    </body>
  </worldbody>
  <actuator><motor name="ma" joint="ja"/><motor name="mb" joint="jb"/></actuator>
</mujoco>
"""
# A carriage on a vertical rail: gravity is a constant force, like Coulomb friction while it only rises.
LIFT_XML = """\
<mujoco>
  <option timestep="0.002" integrator="implicitfast"/>
  <worldbody>
    <body name="car" pos="0 0 1">
      <joint name="lift" type="slide" axis="0 0 1" damping="2" frictionloss="1" armature="0.1"/>
      <inertial pos="0 0 0" mass="1" diaginertia="0.01 0.01 0.01"/>
    </body>
  </worldbody>
  <actuator><motor name="m" joint="lift"/></actuator>
</mujoco>
"""


def rollout(model: mujoco.MjModel, ctrl: np.ndarray, *, seed: int = 0, source: str = "log.csv") -> Log:
    """A noisy log of `model` from rest under (N, nu) commands issued at every model step
    (positions 1e-3, velocities 1e-2 noise)."""
    data = mujoco.MjData(model)
    n = len(ctrl)
    qpos, qvel = np.empty((n, model.nq)), np.empty((n, model.nv))
    for i in range(n):
        qpos[i], qvel[i] = data.qpos, data.qvel
        data.ctrl[:] = ctrl[i]
        mujoco.mj_step(model, data)
    rng = np.random.default_rng(seed)
    qpos, qvel = qpos + rng.normal(0, 1e-3, qpos.shape), qvel + rng.normal(0, 1e-2, qvel.shape)
    joints = [model.joint(j).name for j in range(model.njnt)]
    return Log(source, np.arange(n) * model.opt.timestep, {j: qpos[:, k] for k, j in enumerate(joints)},
               {j: qvel[:, k] for k, j in enumerate(joints)}, {}, {model.actuator(a).name: ctrl[:, a] for a in range(model.nu)})


def still_case() -> tuple[str, Log, str, dict]:
    """jb is held still (no command, at rest) while ja swings."""
    model = mujoco.MjModel.from_xml_string(TWO_XML)
    time = np.arange(1501) * 0.002
    log = rollout(model, np.stack([multisine(time, 1), np.zeros_like(time)], axis=1), source="still.csv")
    return TWO_XML, log, "damping,frictionloss,armature", {}


def one_way_case() -> tuple[str, Log, str, dict]:
    """The lift's command never reverses: it only rises, so friction and gravity (mass) trade off."""
    model = mujoco.MjModel.from_xml_string(LIFT_XML)
    time = np.arange(1501) * 0.002
    log = rollout(model, (14 + 3 * multisine(time, 2, peak=1.0))[:, None], source="one_way.csv")
    return LIFT_XML, log, "mass,armature,frictionloss", {}


def short_case() -> tuple[str, Log, str, dict]:
    """30 ms of the pendulum with a 50 ms actuation delay."""
    log = make_log(with_values(mujoco.MjModel.from_xml_string(PENDULUM_XML), TRUTH), 0.03, seed=3, source="short.csv")
    return PENDULUM_XML, log, "damping,delay", {"delay": {"initial": 0.05}}


def run_check(xml: str, log: Log, params: str, overrides: dict):
    model = mujoco.MjModel.from_xml_string(xml)
    param_set, prior, horizon = prepare_params(model, [log], params, ConfigFile(overrides, {}))
    return check_logs(model, [log], param_set, horizon=horizon, prior=prior)


def finding(report, kind: str):
    hits = [f for f in report.findings if f.kind == kind]
    assert hits, f"no {kind} finding in {[f.kind for f in report.findings]}"
    return hits[0]


# --- the bundled arm2 logs --------------------------------------------------------------------------------------


def test_bundled_arm2_logs_pass_with_every_parameter_identifiable(tmp_path, capsys):
    out = tmp_path / "check"
    logs = [str(DEMO_DIR / "run1.csv"), str(DEMO_DIR / "run2.csv")]
    args = ["check", "--model", str(DEMO_DIR / "arm2.xml"), "--params", DEMO_PARAMS, "--out", str(out)]
    assert main([*args, "--log", logs[0], "--log", logs[1]]) == 0
    report = json.loads((out / "check.json").read_text())
    assert report["pass"] is True
    assert len(report["params"]) == 8
    assert {p["verdict"] for p in report["params"].values()} == {"identifiable"}
    assert all(0 < p["predicted_std"] < 0.01 * p["value"] for p in report["params"].values())
    assert report["findings"] == []  # no data-quality finding fires on the clean logs
    assert {f.name for f in out.iterdir()} == {"check.json", "std.png", "data_1.png", "data_2.png"}
    assert "8 identifiable" in capsys.readouterr().out


def _arm2_generator():
    return load_generator('arm2')


def test_predicted_std_agrees_with_the_spread_of_fits_over_noise_seeds():
    """6 noisy copies of one 3 s arm2 experiment, each fitted with lsq from the nominal model: the
    standard deviation of the fitted values matches the check's predicted std within 2x."""
    gen = _arm2_generator()
    model = load_model(DEMO_DIR / "arm2.xml")
    clean = gen.make_log(3.0, 1, noise=False)

    def noisy(seed: int) -> Log:
        rng = np.random.default_rng(100 + seed)
        pos = {j: clean[f"{j}.pos"].to_numpy() + rng.normal(0, gen.POS_NOISE, len(clean)) for j in gen.JOINTS}
        vel = {j: clean[f"{j}.vel"].to_numpy() + rng.normal(0, gen.VEL_NOISE, len(clean)) for j in gen.JOINTS}
        return Log(f"seed{seed}.csv", clean["time"].to_numpy(), pos, vel, {}, {a: clean[f"{a}.ctrl"].to_numpy() for a in gen.MOTORS})

    params = parse_params(DEMO_PARAMS, model)
    report = check_logs(model, [noisy(0)], params, horizon=1.0)
    predicted = np.array([report.params[n]["predicted_std"] for n in params.names])
    config = FitConfig(optimizer="lsq", horizons=(1.0,))
    fitted = np.array([fit(model, [noisy(s)], params, config, progress=False).values for s in range(6)])
    truth = np.array([gen.TRUTH[n] for n in params.names])
    assert np.all(np.abs(fitted.mean(axis=0) - truth) < 0.01 * truth)  # the fits converged
    ratio = fitted.std(axis=0, ddof=1) / predicted
    assert np.all((ratio > 0.5) & (ratio < 2.0)), dict(zip(params.names, ratio.round(2)))


# --- logs that cannot show a parameter ----------------------------------------------------------------------------


def test_a_joint_held_still_flags_its_parameters_only():
    report = run_check(*still_case())
    verdicts = {n: p["verdict"] for n, p in report.params.items()}
    assert verdicts == {"damping@ja": "identifiable", "frictionloss@ja": "identifiable", "armature@ja": "identifiable",
                        "damping@jb": "not identifiable", "frictionloss@jb": "not identifiable", "armature@jb": "not identifiable"}
    assert not report.passed
    still = finding(report, "joint_never_moves")
    assert still.params == ("damping@jb", "frictionloss@jb", "armature@jb") and still.signal == "jb.pos"
    remedies = report.params["damping@jb"]["remedies"]
    assert remedies[0] == "record a motion of jb: its parameters cannot be seen in this log"
    assert any(r.startswith("record a trajectory that excites it: sysid excite --model") and
               "--params damping@jb,frictionloss@jb,armature@jb" in r for r in remedies)
    assert report.excite.startswith("sysid excite ") and "ja" not in report.excite


def test_a_command_that_never_reverses_flags_friction_and_its_trade_off():
    report = run_check(*one_way_case())
    assert report.params["frictionloss@lift"]["verdict"] == "not identifiable"
    one_way = finding(report, "one_direction")
    assert one_way.params == ("frictionloss@lift",) and one_way.severity == "warning"
    assert "moving both ways" in report.params["frictionloss@lift"]["remedies"][0]
    trade = finding(report, "trade_off")
    assert "frictionloss@lift" in trade.params and len(trade.params) >= 2
    group = next(g for g in report.groups if "frictionloss@lift" in g["params"])
    assert group["determined_std"] < 0.05  # the combination is well determined, each part is not


def test_a_log_shorter_than_the_delay_flags_the_delay():
    report = run_check(*short_case())
    assert report.params["delay"]["verdict"] == "not identifiable"
    assert report.params["delay"]["predicted_std"] == np.inf
    short = finding(report, "shorter_than_delay")
    assert short.params == ("delay",)
    assert report.params["delay"]["remedies"][0] == "record logs several times longer than the delay (at least 0.25 s)"
    assert not report.passed


@pytest.mark.parametrize("case", [still_case, one_way_case, short_case])
def test_fit_check_strict_refuses_with_exit_2_and_one_line(case, tmp_path, capsys):
    xml, log, params, overrides = case()
    (tmp_path / "m.xml").write_text(xml)
    write_csv(log, tmp_path / "log.csv")
    args = ["fit", "--model", str(tmp_path / "m.xml"), "--log", str(tmp_path / "log.csv"), "--params", params,
            "--optimizer", "lsq", "--check", "strict", "--quiet", "--out", str(tmp_path / "out")]
    if overrides:
        (tmp_path / "fit.yaml").write_text(json.dumps({"params": overrides}))
        args += ["--config", str(tmp_path / "fit.yaml")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sysid: error: --check strict: the logs fail the check: ")
    assert "not identifiable" in err and not (tmp_path / "out" / "result.json").exists()


def test_fit_records_the_summary_check_in_result_json(tmp_path, truth_model, pendulum_path, capsys):
    write_csv(make_log(truth_model, 1.0, seed=4), tmp_path / "run.csv")
    base = ["fit", "--model", str(pendulum_path), "--log", str(tmp_path / "run.csv"), "--params", "damping,armature",
            "--optimizer", "lsq"]
    assert main([*base, "--out", str(tmp_path / "on")]) == 0
    assert "sysid: check: pass: 2 identifiable; 0 error(s), 0 warning(s)" in capsys.readouterr().err
    check = json.loads((tmp_path / "on" / "result.json").read_text())["check"]
    assert check["pass"] is True and set(check["params"]) == {"damping@hinge", "armature@hinge"}
    assert main([*base, "--check", "off", "--quiet", "--out", str(tmp_path / "off")]) == 0
    assert "check" not in json.loads((tmp_path / "off" / "result.json").read_text())


def test_sysid_check_exits_1_on_a_failing_set(tmp_path, capsys):
    xml, log, params, _ = still_case()
    (tmp_path / "m.xml").write_text(xml)
    write_csv(log, tmp_path / "log.csv")
    assert main(["check", "--model", str(tmp_path / "m.xml"), "--log", str(tmp_path / "log.csv"), "--params", params,
                 "--out", str(tmp_path / "c")]) == 1
    report = json.loads((tmp_path / "c" / "check.json").read_text())
    assert report["pass"] is False and report["params"]["armature@jb"]["predicted_std"] is None  # inf is written as null
    assert report["reasons"][0].startswith("damping@jb is not identifiable")
    assert "FAIL" in capsys.readouterr().out


def test_check_refuses_to_overwrite_an_input(tmp_path, capsys):
    xml, log, params, _ = still_case()
    (tmp_path / "m.xml").write_text(xml)
    write_csv(log, tmp_path / "check.json")
    assert main(["check", "--model", str(tmp_path / "m.xml"), "--log", str(tmp_path / "check.json"), "--out", str(tmp_path)]) == 2
    assert "would overwrite the input file" in capsys.readouterr().err


# --- data quality: one synthetic log per finding ------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean():
    """2 s of the true pendulum, noisy, and its model."""
    model = with_values(mujoco.MjModel.from_xml_string(PENDULUM_XML), TRUTH)
    return model, make_log(model, 2.0, seed=1, source="clean.csv")


def _model(xml_edit: tuple[str, str] | None = None) -> mujoco.MjModel:
    xml = PENDULUM_XML if xml_edit is None else PENDULUM_XML.replace(*xml_edit)
    return mujoco.MjModel.from_xml_string(xml)


def _edit(log: Log, **groups) -> Log:
    return dataclasses.replace(log, **{k: {**getattr(log, k), **v} for k, v in groups.items() if k != "time"},
                               **({"time": groups["time"]} if "time" in groups else {}))


def test_the_clean_synthetic_log_has_no_finding(clean):
    model, log = clean
    assert log_quality(log, model, parse_params("damping,frictionloss,armature", model))[1] == []


def _cases(log: Log, model: mujoco.MjModel):
    """(kind, signal, edited log, model) for every data-quality finding."""
    n, pos, vel, ctrl = len(log.time), log.pos["hinge"], log.vel["hinge"], log.ctrl["motor"]
    rng = np.random.default_rng(7)
    dt = log.time[1] - log.time[0]
    jittered = log.time + rng.uniform(-0.35, 0.35, n) * dt
    gap = np.r_[0:400, 460:n]
    dup = pos.copy(), vel.copy()
    for i in range(10, n, 10):
        dup[0][i], dup[1][i] = dup[0][i - 1], dup[1][i - 1]
    frozen = pos.copy()
    frozen[500:530] = frozen[500]
    step = np.ptp(pos) / 40
    noise = rng.normal(0, 0.3 * np.std(pos), n)
    limited = _model(('type="hinge"', 'type="hinge" range="-0.5 0.5" limited="true"'))
    ranged = _model(('joint="hinge"/>', 'joint="hinge" ctrlrange="-2 2" ctrllimited="true"/>'))
    idle = make_log(model, 3.0, seed=1, source="idle.csv")
    quiet = np.arange(len(idle.time)) < 1000
    idle_ctrl = np.where(quiet, 0.0, idle.ctrl["motor"])
    qpos, qvel = simulate(model, idle_ctrl)
    idle = _edit(idle, pos={"hinge": qpos + rng.normal(0, 1e-3, len(qpos))}, vel={"hinge": qvel + rng.normal(0, 1e-2, len(qpos))},
                 ctrl={"motor": idle_ctrl})
    return [
        ("jitter", "time", _edit(log, time=jittered), model),
        ("gap", "time", Log(log.source, log.time[gap], {"hinge": pos[gap]}, {"hinge": vel[gap]}, {}, {"motor": ctrl[gap]}), model),
        ("duplicate", None, _edit(log, pos={"hinge": dup[0]}, vel={"hinge": dup[1]}), model),
        ("frozen", "hinge.pos", _edit(log, pos={"hinge": frozen}), model),
        ("quantisation", "hinge.pos", _edit(log, pos={"hinge": np.round(pos / step) * step}), model),
        ("noisy", "hinge.pos", _edit(log, pos={"hinge": pos + noise}), model),
        ("command_saturated", "motor.ctrl", _edit(log, ctrl={"motor": np.clip(ctrl, -2, 2)}), ranged),
        ("command_out_of_range", "motor.ctrl", log, ranged),
        ("joint_at_limit", "hinge.pos", _edit(log, pos={"hinge": np.clip(pos, -0.5, 0.5)}), limited),
        ("clipped", "hinge.vel", _edit(log, vel={"hinge": np.clip(vel, -0.5 * np.abs(vel).max(), 0.5 * np.abs(vel).max())}), model),
        ("idle", None, idle, model),
        ("angle_wrap", "hinge.pos", _edit(log, pos={"hinge": np.angle(np.exp(1j * (pos + 2.8)))}), model),
        ("command_never_changes", "motor.ctrl", _edit(log, ctrl={"motor": np.full(n, 0.5)}), model),
        ("joint_never_moves", "hinge.pos", _edit(log, pos={"hinge": rng.normal(0, 1e-3, n)}), model),
        ("one_direction", "hinge.pos", _edit(log, pos={"hinge": np.linspace(0, 6, n) + rng.normal(0, 1e-3, n)}), model),
    ]


KINDS = ["jitter", "gap", "duplicate", "frozen", "quantisation", "noisy", "command_saturated", "command_out_of_range",
         "joint_at_limit", "clipped", "idle", "angle_wrap", "command_never_changes", "joint_never_moves", "one_direction"]


@pytest.mark.parametrize("kind", KINDS)
def test_data_quality_finding(kind, clean):
    base_model, base = clean
    _, signal, log, model = next(c for c in _cases(base, base_model) if c[0] == kind)
    params = parse_params("damping,frictionloss,armature", model)
    summary, found = log_quality(log, model, params)
    hit = [f for f in found if f.kind == kind]
    assert len(hit) == 1, [f.kind for f in found]
    assert hit[0].signal == signal and hit[0].log == log.source and hit[0].remedy
    assert hit[0].severity == ("error" if kind == "angle_wrap" else "warning")
    if kind in ("joint_never_moves", "angle_wrap"):
        assert hit[0].params == ("damping@hinge", "frictionloss@hinge", "armature@hinge")
    if kind == "one_direction":
        assert hit[0].params == ("frictionloss@hinge",)
    if kind == "quantisation":
        assert summary["signals"]["hinge.pos"]["quantum"] == pytest.approx(np.ptp(base.pos["hinge"]) / 40, rel=1e-6)


def test_shorter_than_delay_is_a_data_finding(clean):
    model, log = clean
    params = parse_params("delay", model)
    short = log.slice(0, 10)
    found = log_quality(short, model, params, delay=0.05)[1]
    assert [f.params for f in found if f.kind == "shorter_than_delay"] == [("delay",)]
    assert not [f for f in log_quality(log, model, params, delay=0.05)[1] if f.kind == "shorter_than_delay"]


def test_summary_reports_rate_jitter_and_noise(clean):
    model, log = clean
    summary = log_quality(log, model)[0]
    assert summary["rate_hz"] == pytest.approx(500.0)
    assert summary["jitter"] < 1e-6
    assert summary["signals"]["hinge.pos"]["noise"] == pytest.approx(1e-3, rel=0.15)
    assert summary["signals"]["hinge.vel"]["noise"] == pytest.approx(1e-2, rel=0.15)
    assert summary["signals"]["hinge.pos"]["quantum"] == 0.0


def test_check_without_params_checks_the_data_only(tmp_path, pendulum_path, clean):
    model, log = clean
    write_csv(_edit(log, ctrl={"motor": np.full(len(log.time), 0.5)}), tmp_path / "run.csv")
    assert main(["check", "--model", str(pendulum_path), "--log", str(tmp_path / "run.csv"), "--out", str(tmp_path / "c"),
                 "--quiet"]) == 0
    report = json.loads((tmp_path / "c" / "check.json").read_text())
    assert report["pass"] is True and report["params"] == {}
    assert [f["kind"] for f in report["findings"]] == ["command_never_changes"]
    assert report["logs"][0]["rate_hz"] == pytest.approx(500.0)
    assert {f.name for f in (tmp_path / "c").iterdir()} == {"check.json", "data_1.png"}
