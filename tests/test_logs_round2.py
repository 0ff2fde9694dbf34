"""Logs as they come, round two: list-valued cells with microsecond times in two files, stale rows and
glitches repaired with a report, servo JSON (BAM layout) with voltage and enable, per-log settings from
the log's header, and bounds that adapt (`sysid.bounds`)."""

from __future__ import annotations

import json
import warnings

import mujoco
import numpy as np
import pandas as pd
import pytest
from conftest import PENDULUM_XML, make_log, multisine, write_csv

from sysid.cli import main
from sysid.closedloop import parse_actuators
from sysid.config import load_config
from sysid.data import Log, load_log
from sysid.data.meta import resolve_meta
from sysid.data.repair import REPAIR_ALL, RepairRules, parse_rules, repair_log, repair_logs
from sysid.errors import UserError
from sysid.fit import FitConfig, fit
from sysid.params import parse_params

PARAMS = "damping,armature"
CONFIG = FitConfig(horizons=(0.1, 0.3), max_windows=8, nthread=2, optimizer_options={"cmaes": {"max_evaluations": 200}})
T0_US = 0  # an epoch time in microseconds


@pytest.fixture(scope="module")
def truth():
    return mujoco.MjModel.from_xml_string(PENDULUM_XML.replace('damping="0.5"', 'damping="0.2"').replace('armature="0.05"', 'armature="0.02"'))


@pytest.fixture(scope="module")
def clean(truth) -> Log:
    """1.5 s of the pendulum at 500 Hz, with noise: the log every shape below is made from."""
    return make_log(truth, 1.5, seed=3, source="clean.csv")


def _fit(log: Log) -> np.ndarray:
    model = mujoco.MjModel.from_xml_string(PENDULUM_XML)
    return fit(model, [log], parse_params(PARAMS, model), CONFIG, progress=False, quiet=True).values


@pytest.fixture(scope="module")
def clean_values(clean, tmp_path_factory) -> np.ndarray:
    path = write_csv(clean, tmp_path_factory.mktemp("clean") / "clean.csv")
    return _fit(load_log(path))


# --- list cells, microsecond times, state and command files joined on time ---------------------------


def _write_two_files(log: Log, folder) -> None:
    """`state.csv`: `stamp_us` and list cells `[pos, vel]`; `cmd.csv`: its own `t_us` and `[torque, 0]` at half the rate."""
    us = T0_US + np.round(log.time * 1e6).astype(np.int64)
    cells = [f"[{p:.10g}, {v:.10g}]" for p, v in zip(log.pos["hinge"], log.vel["hinge"])]
    pd.DataFrame({"stamp_us": us, "joint_states": cells}).to_csv(folder / "state.csv", index=False)
    commands = [f"[{u:.10g}, 0]" for u in log.ctrl["motor"][::2]]
    pd.DataFrame({"t_us": us[::2], "effort_cmd": commands}).to_csv(folder / "cmd.csv", index=False)
    (folder / "map.yaml").write_text(
        "time: {column: stamp_us, unit: us}\n"
        "hinge.pos: {column: joint_states, index: 0}\n"
        "hinge.vel: {column: joint_states, index: 1}\n"
        'motor.ctrl: {file: "${log_dir}/cmd.csv", column: effort_cmd, index: 0, time_column: t_us}\n'
    )


def test_list_cells_in_two_files_with_microsecond_times_fit_as_the_clean_csv(truth, tmp_path, clean_values):
    rows = np.arange(0, 751, 2)  # commands change every other row, so the half-rate command file holds them all
    log = make_log(truth, 1.5, seed=3, rows=rows)
    _write_two_files(log, tmp_path)
    loaded = load_log(tmp_path / "state.csv", map_path=tmp_path / "map.yaml")
    assert np.allclose(loaded.time - loaded.time[0], log.time, atol=1e-6)
    assert np.allclose(loaded.pos["hinge"], log.pos["hinge"], atol=1e-9)
    held = log.ctrl["motor"][(np.arange(len(log.time)) // 2) * 2]  # the half-rate commands, held
    assert np.allclose(loaded.ctrl["motor"], held, rtol=1e-9, atol=1e-9)
    # The clean CSV of the same data, in seconds since the same epoch (float64 rounds those to 0.24 us), and from 0.
    epoch = pd.DataFrame({"time": loaded.time, "hinge.pos": log.pos["hinge"], "hinge.vel": log.vel["hinge"], "motor.ctrl": held})
    epoch.to_csv(tmp_path / "epoch.csv", index=False, float_format="%.17g")
    zero = write_csv(Log("c.csv", log.time, log.pos, log.vel, {}, {"motor": held}), tmp_path / "zero.csv")
    values = _fit(loaded)
    assert np.allclose(values, _fit(load_log(tmp_path / "epoch.csv")), rtol=1e-6)
    assert np.allclose(values, _fit(load_log(zero)), rtol=0.01)


def test_parquet_list_column_reads_like_a_csv_list(tmp_path):
    table = pd.DataFrame({"timestamp": [0.0, 0.1, 0.2], "observation.state": [[1.0, 2.0], [1.5, 2.5], [2.0, 3.0]]})
    table.to_parquet(tmp_path / "episode.parquet")
    (tmp_path / "map.yaml").write_text("time: {column: timestamp}\na.pos: {column: observation.state, index: 1}\n")
    log = load_log(tmp_path / "episode.parquet", map_path=tmp_path / "map.yaml")
    assert log.pos["a"].tolist() == [2.0, 2.5, 3.0]


# --- repairs --------------------------------------------------------------------------------------


def _damaged(clean: Log) -> tuple[Log, list[int], list[int]]:
    """The clean log with stale rows (whole state repeated) and -pi single-sample glitches; their 0-based rows."""
    pos, vel = clean.pos["hinge"].copy(), clean.vel["hinge"].copy()
    stale = [100, 101, 102, 300, 520]
    for r in stale:
        pos[r], vel[r] = pos[r - 1], vel[r - 1]
    glitches = [50, 200, 401, 650]
    pos[glitches] -= np.pi
    return Log("damaged.csv", clean.time, {"hinge": pos}, {"hinge": vel}, {}, dict(clean.ctrl)), stale, glitches


def test_repair_report_names_every_damaged_row_and_none_in_a_clean_log(clean):
    damaged, stale, glitches = _damaged(clean)
    fixed, findings = repair_log(damaged, REPAIR_ALL)
    report = {f.defect: f.to_json() for f in findings}
    assert set(report) == {"stale", "glitch"}
    assert report["stale"]["rows"] == ["101-103", "301", "521"] and report["stale"]["count"] == 5
    assert report["glitch"]["rows"] == ["51", "201", "402", "651"] and report["glitch"]["signal"] == "hinge.pos"
    assert all(f.action == "interpolated" and f.file == "damaged.csv" for f in findings)
    assert np.max(np.abs(fixed.pos["hinge"] - clean.pos["hinge"])) < 0.02
    assert repair_log(clean, REPAIR_ALL) == (clean, [])


def test_a_quantized_encoder_moving_slowly_or_at_rest_is_not_stale():
    time = np.arange(3000) * 0.002
    count = 2 * np.pi / 4096
    angle = np.round(0.3 * (1 - np.cos(0.5 * np.maximum(time - 2, 0))) / count) * count  # at rest, then a count every few rows
    log = Log("encoder.csv", time, {"a": angle}, {}, {}, {"m": np.sin(time)})
    assert repair_log(log, REPAIR_ALL) == (log, [])


def test_wraps_are_unwrapped_and_reported(clean):
    angle = clean.pos["hinge"] + 3.0  # crosses pi
    wrapped = (angle + np.pi) % (2 * np.pi) - np.pi
    log = Log("wrapped.csv", clean.time, {"hinge": wrapped}, {}, {}, dict(clean.ctrl))
    fixed, findings = repair_log(log, RepairRules(wrap="unwrap"))
    crossings = np.flatnonzero(np.abs(np.diff(wrapped)) > np.pi) + 2
    assert [f.defect for f in findings] == ["wrap"] and findings[0].count == len(crossings) > 0
    assert np.allclose(fixed.pos["hinge"], angle - 2 * np.pi * np.round((angle[0] - wrapped[0]) / (2 * np.pi)))


def test_damaged_log_repaired_fits_as_the_clean_log(clean, clean_values):
    damaged, _, _ = _damaged(clean)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repaired findings are reported, not warned
        (fixed,), findings = repair_logs([damaged], REPAIR_ALL)
    assert len(findings) == 2
    assert np.allclose(_fit(fixed), clean_values, rtol=0.005)
    assert abs(_fit(damaged)[1] / clean_values[1] - 1) > 0.05  # unrepaired, the defects bias the armature


def test_unrepaired_defects_warn_with_the_rule_and_change_nothing(clean):
    damaged, _, _ = _damaged(clean)
    with pytest.warns(UserWarning, match=r"damaged.csv: hinge.pos: 4 glitch samples at rows 51, 201, 402, 651.*glitch: interpolate"):
        (kept,), findings = repair_logs([damaged], RepairRules())
    assert kept is damaged and {f.action for f in findings} == {"none"}


def test_cli_prints_repairs_and_writes_them_to_result_json(clean, tmp_path, pendulum_path, capsys):
    damaged, _, _ = _damaged(clean)
    path = write_csv(damaged, tmp_path / "damaged.csv")
    (tmp_path / "fit.yaml").write_text("horizons: [0.1, 0.3]\nmax_windows: 4\noptimizer: lsq\nrepair: true\n")
    code = main(["fit", "--model", str(pendulum_path), "--log", str(path), "--params", "damping", "--config",
                 str(tmp_path / "fit.yaml"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"sysid: repair: {path}: state: 5 stale rows at rows 101-103, 301, 521: interpolated" in err
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert [(r["defect"], r["count"]) for r in result["repairs"]] == [("glitch", 4), ("stale", 5)]


def test_parse_rules():
    assert parse_rules(None) == RepairRules() and parse_rules(True) == REPAIR_ALL
    assert parse_rules({"stale": "drop"}) == RepairRules(stale="drop")


# --- servo JSON ---------------------------------------------------------------------------------------

SERVO_XML = PENDULUM_XML.replace(
    '<motor name="motor" joint="hinge"/>',
    '<motor name="motor" joint="hinge"/>\n    <general name="vin" joint="hinge" gainprm="0"/>\n    <general name="enable" joint="hinge" gainprm="0"/>',
)


def _bam_json(log: Log, path, *, kp: float = 400, columnar: bool = False) -> None:
    n = len(log.time)
    volts = 7.4 - 0.3 * np.sin(log.time)
    enable = [bool(i < n - 20) for i in range(n)]
    fields = {"timestamp": log.time.tolist(), "position": log.pos["hinge"].tolist(), "speed": log.vel["hinge"].tolist(),
              "torque": log.ctrl["motor"].tolist(), "input_volts": volts.tolist(), "temp": [28] * n, "torque_enable": enable}
    samples = fields if columnar else [dict(zip(fields, values)) for values in zip(*fields.values())]
    path.write_text(json.dumps({"mass": 0.49, "length": 0.1, "kp": kp, "vin": 7.4, "trajectory": "sin_sin", "entries": samples}))


SERVO_MAP = ("time: {column: timestamp}\nhinge.pos: {column: position}\nhinge.vel: {column: speed}\nmotor.ctrl: {column: torque}\n"
             "vin.ctrl: {column: input_volts}\nenable.ctrl: {column: torque_enable}\n")


@pytest.mark.parametrize("columnar", [False, True])
def test_servo_json_with_voltage_and_enable_loads_every_field_and_header(clean, tmp_path, columnar):
    _bam_json(clean, tmp_path / "run.json", columnar=columnar)
    (tmp_path / "map.yaml").write_text(SERVO_MAP + "kp_setting.ctrl: {column: kp}\n")
    log = load_log(tmp_path / "run.json", map_path=tmp_path / "map.yaml")
    assert np.allclose(log.ctrl["vin"], 7.4 - 0.3 * np.sin(clean.time))
    assert log.ctrl["enable"].tolist() == [1.0] * (len(clean.time) - 20) + [0.0] * 20
    assert np.all(log.ctrl["kp_setting"] == 400)
    assert log.meta == {"mass": 0.49, "length": 0.1, "kp": 400, "vin": 7.4, "trajectory": "sin_sin"}
    assert np.array_equal(log.pos["hinge"], clean.pos["hinge"])


def test_servo_json_fits_as_the_clean_csv(clean, tmp_path, clean_values):
    _bam_json(clean, tmp_path / "run.json")
    (tmp_path / "map.yaml").write_text(SERVO_MAP)
    log = load_log(tmp_path / "run.json", map_path=tmp_path / "map.yaml", format="servo-json")
    model = mujoco.MjModel.from_xml_string(SERVO_XML)
    values = fit(model, [log], parse_params(PARAMS, model), CONFIG, progress=False, quiet=True).values
    assert np.allclose(values, clean_values, rtol=1e-6)


def test_servo_json_default_map_reads_bam_names(clean, tmp_path):
    _bam_json(clean, tmp_path / "run.json")
    doc = json.loads((tmp_path / "run.json").read_text())
    for entry in doc["entries"]:
        entry["goal_position"] = entry.pop("torque")
    (tmp_path / "run.json").write_text(json.dumps(doc))
    log = load_log(tmp_path / "run.json")
    assert list(log.pos) == ["servo"] and list(log.vel) == ["servo"] and list(log.ctrl) == ["servo"]


def test_per_log_settings_match_by_header_not_file_name(clean, tmp_path):
    _bam_json(clean, tmp_path / "a.json", kp=100)
    _bam_json(clean, tmp_path / "b.json", kp=800)
    (tmp_path / "map.yaml").write_text(SERVO_MAP)
    logs = [load_log(tmp_path / name, map_path=tmp_path / "map.yaml") for name in ("a.json", "b.json")]
    options = {"dcmotor@motor": {"kt": 0.3, "R": 4.0, "per_log": {"*": {"gain": {"meta": "kp"}}}}}
    resolved = resolve_meta(options, logs)
    model = mujoco.MjModel.from_xml_string(SERVO_XML)
    loop = parse_actuators("dcmotor@motor", model, resolved)
    rows = loop._row_params(loop.bindings[0], {}, None, [log.source for log in logs], 2)
    assert rows["gain"].tolist() == [100.0, 800.0]
    with pytest.raises(UserError, match="has no header field 'kp_fw'"):
        resolve_meta({"dcmotor@motor": {"per_log": {"*": {"gain": {"meta": "kp_fw"}}}}}, logs)


def test_fit_with_settings_from_each_json_header_equals_settings_by_file_name(clean, tmp_path, capsys):
    (tmp_path / "servo.xml").write_text(SERVO_XML)
    _bam_json(clean.slice(0, 400), tmp_path / "a.json", kp=1)
    _bam_json(clean.slice(0, 400), tmp_path / "b.json", kp=3)
    (tmp_path / "map.yaml").write_text(SERVO_MAP)
    run = ("horizons: [0.1, 0.2]\nmax_windows: 4\noptimizer: lsq\nactuators:\n  pd@motor:\n    pd_kp: 2.0\n    fit: [pd_kd]\n"
           "    enable: enable\n    per_log:\n")
    (tmp_path / "meta.yaml").write_text(run + '      "*": {gain: {meta: kp}}\n')
    (tmp_path / "names.yaml").write_text(run + '      "*a.json": {gain: 1}\n      "*b.json": {gain: 3}\n')
    results = []
    for config in ("meta", "names"):
        code = main(["fit", "--model", str(tmp_path / "servo.xml"), "--log", str(tmp_path / "a.json"), "--log", str(tmp_path / "b.json"),
                     "--map", str(tmp_path / "map.yaml"), "--actuator", "pd@motor", "--config",
                     str(tmp_path / f"{config}.yaml"), "--out", str(tmp_path / config)])
        assert code == 0, capsys.readouterr().err
        results.append(json.loads((tmp_path / config / "result.json").read_text())["params"])
    assert results[0] == results[1]  # (that the gains reach the model: test_per_log_settings_match_by_header_not_file_name)


# --- bounds that adapt ------------------------------------------------------------------------------

ARM_XML = """<mujoco model="arm2">
  <option timestep="0.002" integrator="implicitfast"/>
  <worldbody>
    <body name="upper" pos="0 0 1">
      <joint name="shoulder" type="hinge" axis="0 1 0" damping="0.5" frictionloss="0.02" armature="0.01"/>
      <inertial pos="0 0 -0.15" mass="0.5" diaginertia="0.004 0.004 0.0005"/>
      <body name="fore" pos="0 0 -0.3">
        <joint name="elbow" type="hinge" axis="0 1 0" damping="0.5" frictionloss="0.02" armature="0.01"/>
        <inertial pos="0 0 -0.1" mass="0.3" diaginertia="0.001 0.001 0.0002"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <position name="shoulder_servo" joint="shoulder" kp="KP1"/>
    <position name="elbow_servo" joint="elbow" kp="KP2"/>
  </actuator>
</mujoco>"""
TRUE_KP = (20.0, 10.0)
MODEL_KP = (800.0, 400.0)  # 40x the truth: outside the default bounds [kp / 10, 10 kp]


@pytest.fixture(scope="module")
def arm_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("arm")
    model = mujoco.MjModel.from_xml_string(ARM_XML.replace("KP1", str(TRUE_KP[0])).replace("KP2", str(TRUE_KP[1])))
    data = mujoco.MjData(model)
    time = np.arange(1001) * model.opt.timestep
    targets = np.stack([multisine(time, 1, peak=0.6, f_hi=1.5), multisine(time, 2, peak=0.6, f_hi=1.5)], axis=1)
    qpos = np.empty((len(time), 2))
    for i in range(len(time)):
        qpos[i] = data.qpos
        data.ctrl[:] = targets[i]
        mujoco.mj_step(model, data)
    qpos += np.random.default_rng(0).normal(0, 1e-3, qpos.shape)
    pd.DataFrame({"time": time, "shoulder.pos": qpos[:, 0], "elbow.pos": qpos[:, 1], "shoulder_servo.ctrl": targets[:, 0],
                  "elbow_servo.ctrl": targets[:, 1]}).to_csv(folder / "arm.csv", index=False, float_format="%.10g")
    (folder / "arm.xml").write_text(ARM_XML.replace("KP1", str(MODEL_KP[0])).replace("KP2", str(MODEL_KP[1])))
    run = "horizons: [0.2, 0.5]\nmax_windows: 6\nnthread: 2\noptimizer_options:\n  cmaes: {max_evaluations: 200}\n  lsq: {max_iterations: 20}\n"
    (folder / "fit.yaml").write_text(run)
    (folder / "user.yaml").write_text(run + "params:\n  kp@shoulder_servo: {lower: 80, upper: 8000}\n")
    return folder


def _fit_arm(folder, config: str, capsys) -> tuple[dict, str]:
    code = main(["fit", "--model", str(folder / "arm.xml"), "--log", str(folder / "arm.csv"), "--params", "kp",
                 "--config", str(folder / config), "--out", str(folder / config.replace(".yaml", ""))])
    err = capsys.readouterr().err
    assert code == 0, err
    return json.loads((folder / config.replace(".yaml", "") / "result.json").read_text()), err


def test_default_bounds_widen_until_a_40x_off_kp_is_recovered(arm_files, capsys):
    result, err = _fit_arm(arm_files, "fit.yaml", capsys)
    for name, truth in zip(("kp@shoulder_servo", "kp@elbow_servo"), TRUE_KP):
        p = result["params"][name]
        assert abs(p["value"] / truth - 1) < 0.05, (name, p)
        assert p["lower"] < p["value"] < p["upper"]
        assert f"sysid: bounds: {name} ended at its default lower bound" in err
    assert [(w["name"], w["side"], w["from"], w["to"]) for w in result["bounds_widened"]] == [
        ("kp@shoulder_servo", "lower", 80.0, 8.0), ("kp@elbow_servo", "lower", 40.0, 4.0)]
    assert result["at_user_bound"] == []


def test_user_bound_is_kept_and_named_with_a_suggestion(arm_files, capsys):
    result, err = _fit_arm(arm_files, "user.yaml", capsys)
    assert result["params"]["kp@shoulder_servo"]["lower"] == 80.0
    assert [w["name"] for w in result["bounds_widened"]] == ["kp@elbow_servo"]
    stuck = result["at_user_bound"]
    assert [(s["name"], s["side"], s["bound"], s["why"]) for s in stuck] == [("kp@shoulder_servo", "lower", 80.0, "set in the config")]
    assert "sysid: bounds: kp@shoulder_servo is at its lower bound 80 (set in the config): if a lower value is physical" in err


def test_a_widened_bound_stops_at_the_physical_limit_of_its_kind():
    from sysid.bounds import PHYSICAL_LIMITS, _moved
    from sysid.params import Param

    delay = Param("delay", "delay", "", 0, 0.01, 0.0, 0.1, "log")
    assert _moved(delay, "upper") == PHYSICAL_LIMITS["delay"][1] == 0.5
    kp = Param("kp@a", "kp", "a", 0, 40.0, 4.0, 400.0, "log")
    assert (_moved(kp, "lower"), _moved(kp, "upper")) == (0.4, 4000.0)
    com = Param("com@b.x", "com", "b", 0, 0.1, 0.0, 0.2, "linear")
    assert np.isclose(_moved(com, "lower"), -0.9) and np.isclose(_moved(com, "upper"), 1.1)


# --- user errors: one line naming the file and entry ---------------------------------------------------


@pytest.mark.parametrize("entry, message", [
    ("a.pos: {column: q, index: -1}", "'index' must be a whole number >= 0"),
    ("a.pos: {column: q, unit: us}", "'unit' applies to the 'time' entry only"),
    ("time: {column: t, unit: hours}", "'unit' must be one of s, ms, us, ns"),
    ("a.pos: {column: q, time_column: t}", "'time_column' names the time column of the 'file'"),
])
def test_map_entry_errors(tmp_path, capsys, pendulum_path, entry, message):
    (tmp_path / "log.csv").write_text("t,q\n0,0\n1,1\n")
    (tmp_path / "map.yaml").write_text(entry + "\n")
    code = main(["fit", "--model", str(pendulum_path), "--log", str(tmp_path / "log.csv"), "--map", str(tmp_path / "map.yaml"),
                 "--params", "damping", "--out", str(tmp_path / "out")])
    lines = capsys.readouterr().err.splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0] and "map.yaml" in lines[0], lines


@pytest.mark.parametrize("cells, index, message", [
    (['"[1, 2]"', '"[1, x]"'], 0, "column 'q', row 2: '[1, x]' is not a list of numbers"),
    (['"[1, 2]"', '"[1]"'], 0, "column 'q', row 2: 1 elements, but row 1 has 2"),
    (['"[1, 2]"', '"[3, 4]"'], 2, "index 2 is past the end of column 'q'"),
    (['""', '"[3, 4]"'], 0, "column 'q', row 1: empty list cell"),
])
def test_list_cell_errors(tmp_path, cells, index, message):
    (tmp_path / "log.csv").write_text("t,q\n" + "".join(f"{i},{c}\n" for i, c in enumerate(cells)))
    (tmp_path / "map.yaml").write_text(f"time: {{column: t}}\na.pos: {{column: q, index: {index}}}\n")
    with pytest.raises(UserError, match=message.replace("[", r"\[")):
        load_log(tmp_path / "log.csv", map_path=tmp_path / "map.yaml")


def test_list_column_read_without_index_names_the_cell(tmp_path):
    (tmp_path / "log.csv").write_text('t,q\n0,"[1, 2]"\n1,"[3, 4]"\n')
    (tmp_path / "map.yaml").write_text("time: {column: t}\na.pos: {column: q, index: 0}\nb.pos: {column: q}\n")
    with pytest.raises(UserError, match=r"column 'q' \(mapped to b.pos\), row 1: '\[1, 2\]' is not a number"):
        load_log(tmp_path / "log.csv", map_path=tmp_path / "map.yaml")


@pytest.mark.parametrize("doc, message", [
    ({"kp": 1, "entries": []}, "the list of samples is empty"),
    ({"kp": 1}, "no list of samples"),
    ({"entries": [{"timestamp": 0, "position": 0}, {"timestamp": 1, "position": None}]}, "field 'position', row 2: null is not a finite number"),
    ({"entries": [{"timestamp": 0, "position": 0}, {"timestamp": 1}]}, "sample 2: fields differ from sample 1 ('position')"),
    ({"entries": {"timestamp": [0, 1], "position": [0]}}, "field 'position' has 1 samples, but 'timestamp' has 2"),
])
def test_servo_json_errors(tmp_path, doc, message):
    (tmp_path / "run.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_log(tmp_path / "run.json")


@pytest.mark.parametrize("repair, message", [
    ("{stale: fix}", "repair: stale must be one of interpolate, drop, keep"),
    ("{glitches: drop}", "repair: unknown key(s) 'glitches'"),
    ("{glitch_threshold: -1}", "glitch_threshold must be a positive number"),
    ("often", "repair must be true, false or a mapping"),
])
def test_repair_config_errors(tmp_path, repair, message):
    (tmp_path / "fit.yaml").write_text(f"repair: {repair}\n")
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_rules(load_config(tmp_path / "fit.yaml").repair)
