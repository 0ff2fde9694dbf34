"""MJCF sensors as fitted signals, measurement parameters, spec: fields and URDF in (issue 19)."""

from __future__ import annotations

import json
import pathlib
import warnings

import mujoco
import numpy as np
import pytest

from sysid import load_log
from sysid.errors import UserError
from sysid.fit import FitConfig, fit
from sysid.model import load_model
from sysid.params import parse_params
from sysid.track import bind_log
from conftest import load_generator

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARM7 = ROOT / "datasets" / "arm7_sensed"
ARM2_URDF = ROOT / "datasets" / "arm2_urdf"

IMU_XML = """
<mujoco>
  <worldbody>
    <body name="link">
      <joint name="hinge" axis="0 1 0"/>
      <geom type="capsule" fromto="0 0 0 0 0 -0.3" size="0.03"/>
      <site name="imu" pos="0 0 -0.3"/>
    </body>
  </worldbody>
  <actuator><motor name="m" joint="hinge"/></actuator>
  <sensor>
    <gyro name="gyro" site="imu"/>
    <jointactuatorfrc name="torque" joint="hinge"/>
  </sensor>
</mujoco>
"""


def _generator():
    return load_generator('arm7_sensed')


def _imu_files(tmp_path, header: str, rows: list[str]) -> tuple[mujoco.MjModel, pathlib.Path]:
    model_path = tmp_path / "imu.xml"
    model_path.write_text(IMU_XML)
    log = tmp_path / "run.csv"
    log.write_text(header + "\n" + "\n".join(rows) + "\n")
    return load_model(model_path), log


def test_sensor_columns_bind_to_sensordata_also_through_a_map_file(tmp_path):
    rows = [f"{0.01 * i},{0.1 * i},{i},{i + 1},{i + 2},{0.5 * i}" for i in range(20)]
    model, path = _imu_files(tmp_path, "time,hinge.pos,gyro[0],gyro[1],gyro[2],tau_raw", rows)
    (tmp_path / "map.yaml").write_text("torque: {column: tau_raw, scale: 2.0}\n")
    track = bind_log(load_log(path, map_path=tmp_path / "map.yaml"), model)
    sensor_index = {name: index for name, index, s in zip(track.signals, track.state_index, track.sensor) if s}
    assert sensor_index == {"gyro[0]": 0, "gyro[1]": 1, "gyro[2]": 2, "torque": 3}
    np.testing.assert_allclose(track.values[:, track.signals.index("torque")], [i for i in range(20)])


def test_sensor_column_of_the_wrong_dimension_is_one_line_naming_the_sensor(tmp_path):
    model, path = _imu_files(tmp_path, "time,hinge.pos,gyro", [f"{0.01 * i},0,0" for i in range(5)])
    with pytest.raises(UserError, match=r"column 'gyro': sensor 'gyro' has 3 values; log them as 'gyro\[0\]'..'gyro\[2\]'") as e:
        bind_log(load_log(path), model)
    assert "\n" not in str(e.value)
    model, path = _imu_files(tmp_path, "time,hinge.pos,torque[1]", [f"{0.01 * i},0,0" for i in range(5)])
    with pytest.raises(UserError, match=r"column 'torque\[1\]': sensor 'torque' has 1 value"):
        bind_log(load_log(path), model)


def test_a_column_that_names_no_sensor_is_ignored_with_a_warning(tmp_path):
    model, path = _imu_files(tmp_path, "time,hinge.pos,temperature", [f"{0.01 * i},0,{i}" for i in range(5)])
    with pytest.warns(UserWarning, match=r"ignoring column\(s\) 'temperature': no MJCF sensor of that name in the model; sensors: gyro, torque"):
        track = bind_log(load_log(path), model)
    assert track.signals == ("hinge.pos",)


def test_arm7_recovers_offset_sensor_gain_friction_and_mass(tmp_path):
    """A short excitation of the 7-DoF torque-sensed arm with one joint's unknowns (the full case:
    benchmarks/arm7_sensors.py)."""
    generate = _generator()
    truth = {"damping@j2": 1.2, "frictionloss@j2": 0.75, "mass@link7": 0.5, "offset@j2": 0.03, "sensor_gain@tau2": 1.08}
    path = tmp_path / "arm7.csv"
    generate.record(4.0, seed=1, truth=truth).to_csv(path, index=False, float_format="%.7g")
    model = load_model(ARM7 / "arm7.xml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        log = load_log(path)
        params = parse_params(",".join(truth), model)
        result = fit(model, [log], params, FitConfig(horizons=(0.2, 0.5), optimizer="lsq", max_windows=16), progress=False)
    fitted = dict(zip(result.params.names, result.values))
    for name, value in truth.items():
        assert fitted[name] == pytest.approx(value, rel=0.05), name
    assert result.rmse_final["tau2"] < 0.2 * result.rmse_initial["tau2"]  # the gain error explained


def test_sensor_gain_bias_and_delay_of_a_simulated_sensor(tmp_path):
    """logged = gain x simulated(t - delay) + bias, the delay fractional (not whole steps)."""
    model_path = tmp_path / "imu.xml"
    model_path.write_text(IMU_XML)
    model = load_model(model_path)
    data = mujoco.MjData(model)
    dt, n = model.opt.timestep, 600
    t = np.arange(n) * dt
    ctrl = 0.3 * np.sin(2 * np.pi * 1.5 * t) + 0.2 * np.sin(2 * np.pi * 4.0 * t)
    pos, gyro = np.empty(n), np.empty(n)
    for i in range(n):
        data.ctrl[0] = ctrl[i]
        mujoco.mj_forward(model, data)
        pos[i], gyro[i] = data.qpos[0], data.sensordata[1]
        mujoco.mj_step(model, data)
    gain, bias, delay = 1.1, 0.05, 0.0237
    logged = gain * np.interp(t - delay, t, gyro) + bias
    path = tmp_path / "run.csv"
    table = np.column_stack([t, pos, logged, ctrl])  # the gyro's y axis only: the bias is one per sensor
    rng = np.random.default_rng(0)
    table[:, 1] += rng.normal(0, 1e-4, n)
    table[:, 2] += rng.normal(0, 1e-3, n)
    np.savetxt(path, table, delimiter=",", header="time,hinge.pos,gyro[1],m.ctrl", comments="")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = parse_params("sensor_gain@gyro,sensor_bias@gyro,sensor_delay@gyro", model)
        result = fit(model, [load_log(path)], params, FitConfig(horizons=(0.3,), optimizer="lsq"), progress=False)
    fitted = dict(zip(result.params.names, result.values))
    assert fitted["sensor_gain@gyro"] == pytest.approx(gain, rel=0.01)
    assert fitted["sensor_bias@gyro"] == pytest.approx(bias, abs=0.005)
    assert fitted["sensor_delay@gyro"] == pytest.approx(delay, abs=0.002)


def test_spec_path_that_does_not_exist_is_one_line_with_close_names():
    model = load_model(ARM7 / "arm7.xml")
    with pytest.raises(UserError, match=r"no body named 'lnk7' in the model; did you mean 'link7'") as e:
        parse_params("spec:body/lnk7/mass", model, overrides={"spec:body/lnk7/mass": {"lower": 0, "upper": 1}})
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match=r"joint 'j7' has no numeric attribute 'dampng'; did you mean damping"):
        parse_params("spec:joint/j7/dampng[0]", model)
    with pytest.raises(UserError, match=r"no geom named 'foot' in the model; geoms: \(none named\)"):
        parse_params("spec:geom/foot/friction[0]", model)
    with pytest.raises(UserError, match=r"bounds are required for spec: fields"):
        parse_params("spec:body/link7/mass", model)


def test_spec_field_fits_recompiles_only_when_changed_and_exports(tmp_path):
    model = load_model(ARM7 / "arm7.xml")
    config = {"spec:body/link7/mass": {"lower": 0.1, "upper": 2.0}, "spec:actuator/m7/gear[0]": {"lower": 0.5, "upper": 2.0}}
    params = parse_params("spec:body/link7/mass,spec:actuator/m7/gear[0],damping@j7", model, overrides=config)
    assert params.names == ["spec:body/link7/mass", "spec:actuator/m7/gear[0]", "damping@j7"]
    copy = mujoco.MjModel.from_xml_path(str(ARM7 / "arm7.xml"))
    params.write(copy, np.array([0.9, 1.5, 0.2]), mujoco.MjData(copy))
    assert copy.body_mass[model.body("link7").id] == pytest.approx(0.9)
    assert copy.actuator_gear[model.actuator("m7").id, 0] == pytest.approx(1.5)
    assert copy.dof_damping[model.joint("j7").dofadr[0]] == pytest.approx(0.2)
    fields = params._spec_fields
    params.write(copy, np.array([0.9, 1.5, 0.3]), mujoco.MjData(copy))  # only damping changed: no recompilation
    assert len(fields._compiled) == 1
    spec = mujoco.MjSpec.from_file(str(ARM7 / "arm7.xml"))
    params.write_spec(spec, model, np.array([0.9, 1.5, 0.3]))
    exported = spec.compile()
    assert exported.body_mass[model.body("link7").id] == pytest.approx(0.9)
    assert exported.actuator_gear[model.actuator("m7").id, 0] == pytest.approx(1.5)


def test_urdf_with_a_missing_mesh_names_it(tmp_path):
    from sysid.urdf import load_urdf

    urdf = tmp_path / "robot.urdf"
    urdf.write_text('<robot name="r"><link name="base"><visual><geometry><mesh filename="package://r/meshes/base.stl"/>'
                    '</geometry></visual></link></robot>')
    with pytest.raises(UserError, match=r"robot.urdf: cannot load the URDF: mesh file\(s\) not found: 'package://r/meshes/base.stl'"):
        load_urdf(urdf, None)


def test_urdf_fit_from_the_cli_matches_the_mjcf_fit(tmp_path):
    from sysid.cli import main

    log = tmp_path / "run.csv"
    lines = (ROOT / "sysid" / "demo" / "run1.csv").read_text().splitlines()[:501]  # 1 s
    log.write_text("\n".join(lines) + "\n")
    config = tmp_path / "fit.yaml"
    config.write_text("horizons: [0.25]\nrefine_states: false\n")
    common = ["--log", str(log), "--config", str(config), "--params", "damping", "--optimizer", "lsq", "--quiet", "--check", "off"]
    assert main(["fit", "--model", str(ARM2_URDF / "arm2.urdf"), "--actuators", str(ARM2_URDF / "actuators.yaml"),
                 *common, "--out", str(tmp_path / "urdf")]) == 0
    assert main(["fit", "--model", str(ROOT / "sysid" / "demo" / "arm2.xml"), *common, "--out", str(tmp_path / "mjcf")]) == 0
    ours, theirs = (json.loads((tmp_path / d / "result.json").read_text())["params"] for d in ("urdf", "mjcf"))
    for name in theirs:
        assert ours[name]["value"] == pytest.approx(theirs[name]["value"], rel=1e-6), name
    a = mujoco.MjModel.from_xml_path(str(tmp_path / "urdf" / "calibrated.xml"))
    b = mujoco.MjModel.from_xml_path(str(tmp_path / "mjcf" / "calibrated.xml"))
    for field in ("dof_damping", "dof_frictionloss", "dof_armature", "body_mass", "body_inertia", "actuator_gear", "actuator_ctrlrange"):
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=1e-6, err_msg=field)
    assert (tmp_path / "urdf" / "model_from_urdf.xml").is_file()


def test_check_runs_on_measurement_and_spec_kinds(tmp_path):
    from sysid.check import check_logs

    generate = _generator()
    path = tmp_path / "arm7.csv"
    generate.record(1.0, seed=2).to_csv(path, index=False, float_format="%.7g")
    model = load_model(ARM7 / "arm7.xml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = parse_params("offset@j2,sensor_gain@tau2,spec:body/link7/mass", model,
                              overrides={"spec:body/link7/mass": {"lower": 0.1, "upper": 1.0}})
        report = check_logs(model, [load_log(path)], params, horizon=0.3)
    assert set(report.params) == {"offset@j2", "sensor_gain@tau2", "spec:body/link7/mass"}
    assert report.params["sensor_gain@tau2"]["verdict"] == "identifiable"


def test_eval_scores_sensor_signals_with_the_fit_s_sensor_gain(tmp_path):
    from sysid.evaluate import eval_files

    generate = _generator()
    path = tmp_path / "arm7.csv"
    generate.record(1.0, seed=3, truth={"sensor_gain@tau2": 1.08}).to_csv(path, index=False, float_format="%.7g")
    fit = tmp_path / "calib"
    fit.mkdir()
    (fit / "calibrated.xml").write_text((ARM7 / "arm7.xml").read_text())
    (fit / "result.json").write_text(json.dumps({"params": {"sensor_gain@tau2": {"value": 1.08, "lower": 0.5, "upper": 2.0}}}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = eval_files(models=[f"nominal={ARM7 / 'arm7.xml'}"], fits=[f"ours={fit}"], log_paths=[str(path)],
                            out=str(tmp_path / "eval"), horizons=("0.2",))
    nominal, ours = (report["models"][label]["rmse"]["0.2"]["tau2"] for label in ("nominal", "ours"))
    assert ours < 0.08 < nominal  # the sensor's noise is 0.05 N m; an 8% gain error on torques of ~10 N m is not
