"""The hardware logs in ../shared/data/real load through the documented paths, and a short fit on a slice helps.

Skipped where that folder is absent (it is never copied into the repository).
"""

from __future__ import annotations

import pathlib
import sys
import warnings

import mujoco
import numpy as np
import pandas as pd
import pytest

from sysid.data import load_log
from sysid.errors import UserError
from sysid.fit import FitConfig, fit
from sysid.params import parse_params
from sysid.track import bind_log

REPO = pathlib.Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "real"
DATASETS = REPO / "datasets"


@pytest.fixture(autouse=True)
def _real_logs_present():
    """The real logs must sit in ../shared beside the checkout (as in CI); a missing folder fails, not skips."""
    assert REAL.is_dir(), f"the real hardware logs are missing: expected them at {REAL}"

DFKI = REAL / "dfki_simple_pendulum" / "measured"
INI = REAL / "ini_cartpole"
BAM = REAL / "bam_xl330" / "raw"
QUICK = FitConfig(horizons=(0.3,), optimizer="lsq", optimizer_options={"lsq": {"max_iterations": 6}}, nthread=2)


def _quiet_load(path, map_path=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # columns the maps leave out
        return load_log(path, map_path=map_path)


def _bam():
    sys.path.insert(0, str(DATASETS / "bam_xl330"))
    try:
        import bam_json
    finally:
        sys.path.pop(0)
    return bam_json


def _model(name: str) -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(DATASETS / name))


def _improves(model, log, params: str) -> tuple[dict, dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # identifiability notes on a short slice
        result = fit(model, [log], parse_params(params, model), QUICK, progress=False)
    return result.rmse_initial, result.rmse_final


# --- DFKI simple pendulum -----------------------------------------------------------------------


def test_dfki_loads_with_measured_torque():
    log = _quiet_load(DFKI / "control_method_pd/system_identification/data_measured.csv", DATASETS / "dfki_pendulum/map.yaml")
    raw = pd.read_csv(DFKI / "control_method_pd/system_identification/data_measured.csv")
    assert len(log.time) == 1170 and log.joints == ["pendulum"] and log.actuators == ["motor"]
    np.testing.assert_array_equal(log.ctrl["motor"], raw["torque"])
    np.testing.assert_array_equal(log.effort["pendulum"], raw["torque"])
    bind_log(log, _model("dfki_pendulum/pendulum.xml"))


def test_dfki_commanded_torque_merges_data_desired():
    run = DFKI / "control_method_sac"
    log = _quiet_load(run / "data_measured.csv", DATASETS / "dfki_pendulum/map_commanded.yaml")
    measured, desired = pd.read_csv(run / "data_measured.csv"), pd.read_csv(run / "data_desired.csv")
    assert len(log.time) == len(measured)
    rows = np.searchsorted(desired["time"].to_numpy(), measured["time"].to_numpy() + 1e-9, side="right") - 1
    np.testing.assert_array_equal(log.ctrl["motor"], desired["torque"].to_numpy()[np.maximum(rows, 0)])
    np.testing.assert_array_equal(log.pos["pendulum"], measured["position"])


def test_dfki_short_fit_improves(tmp_path):
    log = _quiet_load(DFKI / "control_method_pd/system_identification/data_measured.csv", DATASETS / "dfki_pendulum/map.yaml")
    before, after = _improves(_model("dfki_pendulum/pendulum.xml"), log.slice(0, 450), "mass,damping,frictionloss")
    assert after["pendulum.pos"] < 0.8 * before["pendulum.pos"]


# --- INI cart-pole ------------------------------------------------------------------------------


def test_ini_loads_comment_line_and_unwraps_the_angle():
    log = _quiet_load(INI / "Validate/Experiment-131.csv", DATASETS / "ini_cartpole/map.yaml")
    raw = pd.read_csv(INI / "Validate/Experiment-131.csv", comment="#")
    assert len(log.time) == len(raw) == 251 and set(log.joints) == {"cart", "pole"}
    assert np.max(np.abs(np.diff(log.pos["pole"]))) < 1.0  # no 2 pi jumps left
    np.testing.assert_allclose(np.angle(np.exp(1j * log.pos["pole"])), raw["angle"], atol=1e-9)
    bind_log(log, _model("ini_cartpole/cartpole.xml"))


def test_ini_short_fit_improves():
    log = _quiet_load(INI / "Train/Experiment-20.csv", DATASETS / "ini_cartpole/map.yaml")
    model = _model("ini_cartpole/cartpole.xml")
    model.actuator_gear[0, 0] = 2.0  # a poor start
    before, after = _improves(model, log.slice(0, 150), "gear,damping@cart")
    assert after["cart.pos"] < 0.8 * before["cart.pos"]


# --- BAM XL330 ----------------------------------------------------------------------------------


def test_bam_adapter_and_csv_round_trip(tmp_path):
    bam = _bam()
    path = BAM / "2026-01-15_10h29m14.json"
    log = bam.load_bam(path)
    assert log.joints == ["servo"] and log.actuators == ["servo"] and len(log.time) == 1125
    csv = bam.write_csv(log, tmp_path / "run.csv")
    again = load_log(csv)
    np.testing.assert_allclose(again.pos["servo"], log.pos["servo"], rtol=1e-9)
    np.testing.assert_allclose(again.ctrl["servo"], log.ctrl["servo"], rtol=1e-9, atol=1e-12)
    bind_log(again, _model("bam_xl330/bench.xml"))
    assert bam.main([str(path), "--out", str(tmp_path / "csv")]) == 0
    assert (tmp_path / "csv" / "2026-01-15_10h29m14.csv").exists()


def test_bam_adapter_drops_the_torque_off_rows(tmp_path):
    bam = _bam()
    with pytest.warns(UserWarning, match=r"torque disabled from row \d+ .*dropping"):
        log = bam.load_bam(BAM / "2026-01-15_10h29m21.json")  # lift_and_drop: 2 s on, 4 s off
    assert log.duration < 2.1
    bad = tmp_path / "bad.json"
    bad.write_text('{"kp": 400, "vin": 7.4, "entries": [{"timestamp": 0.0, "position": "x"}]}')
    with pytest.raises(UserError, match=r"bad.json: entries, row 1: 'position' is 'x', not a finite number"):
        bam.load_bam(bad)
    bad.write_text('{"kp": 400, "vin": 7.4, "entries": [{"timestamp": 0.0, "position": 0.1}]}')
    with pytest.raises(UserError, match=r"bad.json: entries, row 1: missing 'speed'"):
        bam.load_bam(bad)


def test_bam_short_fit_improves():
    log = _bam().load_bam(BAM / "2026-01-15_10h29m14.json")
    model = _model("bam_xl330/bench.xml")
    model.actuator_gainprm[0, 0], model.actuator_biasprm[0, 1] = 3.0, -3.0  # a poor start
    before, after = _improves(model, log.slice(0, 400), "kp,damping")
    assert after["servo.pos"] < 0.8 * before["servo.pos"]
