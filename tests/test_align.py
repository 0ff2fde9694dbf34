"""Tests for stream alignment: hold / interpolate, multi-file maps, unwrapping, idle trimming, splits, --val."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import PENDULUM_XML, make_log, write_csv

from sysid.cli import main
from sysid.data import Log, load_column_map, load_log
from sysid.data.align import active_rows, hold, interpolate, merge, scale, split_time, trim_idle, unwrap
from sysid.errors import UserError


def _log(time, source="a.csv", **groups) -> Log:
    return Log(source, np.asarray(time, float), **{k: {n: np.asarray(v, float) for n, v in d.items()} for k, d in groups.items()})


def test_hold_and_interpolate():
    t = np.array([0.0, 0.1, 0.2])
    at = np.array([-0.05, 0.0, 0.05, 0.1, 0.19, 0.3])
    np.testing.assert_array_equal(hold(t, np.array([1.0, 2.0, 3.0]), at), [1, 1, 1, 2, 2, 3])
    np.testing.assert_allclose(interpolate(t, np.array([0.0, 1.0, 0.0]), at), [0, 0, 0.5, 1, 0.1, 0])


def test_merge_holds_commands_and_interpolates_states():
    states = _log([0.0, 0.002, 0.004, 0.006, 0.008, 0.010], pos={"j": [0, 1, 2, 3, 4, 5]})
    commands = _log([0.0, 0.005, 0.010], source="b.csv", pos={}, vel={"k": [0.0, 10.0, 20.0]}, ctrl={"m": [1.0, 2.0, 3.0]})
    merged = merge(states, commands)
    np.testing.assert_array_equal(merged.ctrl["m"], [1, 1, 1, 2, 2, 3])
    np.testing.assert_allclose(merged.vel["k"], [0, 4, 8, 12, 16, 20])
    assert merged.pos["j"] is states.pos["j"] and merged.source == "a.csv"
    with pytest.raises(UserError, match=r"b.csv: signal 'j.pos' is also in a.csv"):
        merge(states, _log([0.0, 1.0], source="b.csv", pos={"j": [0, 1]}))


def test_merge_warns_when_the_other_stream_covers_little(recwarn):
    merge(_log([0.0, 1.0, 2.0], pos={"j": [0, 1, 2]}), _log([5.0, 6.0], source="b.csv", pos={}, ctrl={"m": [1, 2]}))
    assert any("same time base" in str(w.message) for w in recwarn)


def test_map_file_entry_merges_a_second_file(tmp_path):
    run = tmp_path / "run1"
    run.mkdir()
    pd.DataFrame({"t": [0.0, 0.01, 0.02, 0.03], "q": [0.0, 0.1, 0.2, 0.3]}).to_csv(run / "measured.csv", index=False)
    pd.DataFrame({"t": [0.0, 0.02, 0.03], "q": [9.0, 9.0, 9.0], "tau": [1.0, -1.0, -1.0]}).to_csv(run / "desired.csv", index=False)
    mapfile = tmp_path / "map.yaml"
    mapfile.write_text('time: {column: t}\nhinge.pos: {column: q}\nmotor.ctrl: {file: "${log_dir}/desired.csv", column: tau}\n')
    log = load_log(run / "measured.csv", map_path=mapfile)
    np.testing.assert_array_equal(log.ctrl["motor"], [1, 1, -1, -1])
    np.testing.assert_array_equal(log.pos["hinge"], [0.0, 0.1, 0.2, 0.3])  # not the other file's q
    # A path without ${log_dir} is relative to the map file.
    mapfile.write_text("time: {column: t}\nhinge.pos: {column: q}\nmotor.ctrl: {file: run1/desired.csv, column: tau}\n")
    np.testing.assert_array_equal(load_log(run / "measured.csv", map_path=mapfile).ctrl["motor"], [1, 1, -1, -1])


def test_map_file_entry_errors_name_the_map_entry_and_file(tmp_path):
    pd.DataFrame({"time": [0.0, 0.01], "q": [0.0, 0.1]}).to_csv(tmp_path / "m.csv", index=False)
    pd.DataFrame({"time": [0.0, 0.01], "tau": [1.0, 2.0]}).to_csv(tmp_path / "d.csv", index=False)
    mapfile = tmp_path / "map.yaml"
    mapfile.write_text("hinge.pos: {column: q}\nmotor.ctrl: {file: nope.csv, column: tau}\n")
    with pytest.raises(UserError, match=r"map.yaml: entry 'motor.ctrl': file .*nope.csv not found"):
        load_log(tmp_path / "m.csv", map_path=mapfile)
    mapfile.write_text("hinge.pos: {column: q}\nmotor.ctrl: {file: d.csv, column: torque}\n")
    with pytest.raises(UserError, match=r"entry 'motor.ctrl': column 'torque' is not in .*d.csv"):
        load_log(tmp_path / "m.csv", map_path=mapfile)
    mapfile.write_text("time: {column: time, file: d.csv}\nhinge.pos: {column: q}\n")
    with pytest.raises(UserError, match=r"entry 'time': 'time' is read from the log file itself"):
        load_column_map(mapfile)
    mapfile.write_text("hinge.pos: {column: q, file: 3}\n")
    with pytest.raises(UserError, match=r"entry 'hinge.pos': 'file' must be a path"):
        load_column_map(mapfile)


def test_map_unwrap(tmp_path):
    wrapped = np.angle(np.exp(1j * np.linspace(0, 9, 50)))
    pd.DataFrame({"time": np.arange(50) * 0.01, "a": wrapped}).to_csv(tmp_path / "w.csv", index=False)
    mapfile = tmp_path / "map.yaml"
    mapfile.write_text("pole.pos: {column: a, unwrap: true}\n")
    np.testing.assert_allclose(load_log(tmp_path / "w.csv", map_path=mapfile).pos["pole"], np.linspace(0, 9, 50), atol=1e-12)
    mapfile.write_text("m.ctrl: {column: a, unwrap: true}\n")
    with pytest.raises(UserError, match=r"entry 'm.ctrl': 'unwrap' applies to angles"):
        load_column_map(mapfile)
    mapfile.write_text("pole.pos: {column: a, unwrap: yes please}\n")
    with pytest.raises(UserError, match=r"'unwrap' must be true or false"):
        load_column_map(mapfile)


def test_unwrap_and_scale_on_a_log():
    log = _log([0, 1, 2], pos={"a": [3.0, -3.0, 3.0]}, ctrl={"m": [1.0, 2.0, 3.0]})
    np.testing.assert_allclose(unwrap(log).pos["a"], [3.0, 2 * np.pi - 3.0, 3.0])
    np.testing.assert_allclose(scale(log, {"m.ctrl": 2.0}).ctrl["m"], [2, 4, 6])
    with pytest.raises(UserError, match="cannot scale 'x.pos'"):
        scale(log, {"x.pos": 2.0})


def test_csv_comment_lines_before_the_header(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("# Saving: 0.02 s\n# another\ntime,j.pos\n0,1\n0.02,2\n")
    log = load_log(path)
    np.testing.assert_array_equal(log.pos["j"], [1, 2])


def test_trim_idle_cuts_rest_at_both_ends():
    n = 100
    time = np.arange(n) * 0.01
    pos = np.zeros(n)
    pos[30:70] = np.sin(np.linspace(0, np.pi, 40))
    pos[70:] = pos[69]
    ctrl = np.zeros(n)
    ctrl[25:60] = 1.0
    log = _log(time, pos={"j": pos}, ctrl={"m": ctrl})
    assert active_rows(log) == (24, 70)  # pos[69] = sin(pi) is already the final value
    trimmed = trim_idle(log)
    assert trimmed.time[0] == pytest.approx(0.24) and len(trimmed.time) == 46
    still = _log(time, pos={"j": np.zeros(n)}, ctrl={"m": np.zeros(n)})
    assert active_rows(still) == (0, n)


def test_trim_idle_ignores_quantization_flicker():
    time = np.arange(200) * 0.005
    pos = np.zeros(200)
    pos[[10, 40]] = 2.9e-3  # one quantum, twice, at rest
    pos[100:] = np.linspace(0, 1, 100)
    start, _ = active_rows(_log(time, pos={"j": pos}))
    assert 95 <= start <= 100


def test_split_time_shares_the_boundary_row():
    log = _log(np.arange(11) * 0.1, pos={"j": np.arange(11.0)})
    train, val = split_time(log, 0.2)
    assert train.time[-1] == val.time[0] == pytest.approx(0.8)
    assert len(train.time) == 9 and len(val.time) == 3
    with pytest.raises(UserError, match="between 0 and 1"):
        split_time(log, 1.5)


def test_cli_val_reports_validation_rmse(tmp_path, truth_model):
    model = tmp_path / "pendulum.xml"
    model.write_text(PENDULUM_XML)
    log = write_csv(make_log(truth_model, 1.2, seed=21), tmp_path / "run.csv")
    other = write_csv(make_log(truth_model, 0.6, seed=22), tmp_path / "other.csv")
    config = tmp_path / "fit.yaml"
    config.write_text("horizons: [0.1, 0.3]\noptimizer: lsq\n")
    out = tmp_path / "calib"
    argv = ["fit", "--model", str(model), "--log", str(log), "--val", "0.25", "--val-log", str(other), "--params", "damping",
            "--config", str(config), "--threads", "2", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    result = json.loads((out / "result.json").read_text())
    val = result["validation"]
    assert val["fraction"] == 0.25 and val["horizon_s"] == 0.3
    assert val["logs"] == [str(other), f"{log} (last 0.25)"]
    for key in ("rmse_open_loop", "rmse_horizon"):
        assert set(val[key]) == {"hinge.pos", "hinge.vel"}
        assert val[key]["hinge.pos"] < val[f"{key}_initial"]["hinge.pos"]
    assert set(val["per_log"]) == set(val["logs"])
    assert val["per_log"][str(other)]["duration_s"] == pytest.approx(0.6)
    assert "delay_estimate" in result


def test_cli_val_errors(tmp_path, truth_model):
    model = tmp_path / "pendulum.xml"
    model.write_text(PENDULUM_XML)
    log = write_csv(make_log(truth_model, 0.2, seed=23), tmp_path / "run.csv")
    argv = ["fit", "--model", str(model), "--log", str(log), "--params", "damping", "--out", str(tmp_path / "o"), "--quiet"]
    assert main([*argv, "--val", "2"]) == 2
    assert main([*argv, "--val-log", str(tmp_path / "missing.csv")]) == 2


def test_trim_idle_keeps_a_log_where_nothing_happens():
    log = _log(np.arange(10) * 0.01, pos={"j": np.zeros(10)}, ctrl={"m": np.ones(10)})
    with pytest.warns(UserWarning, match="nothing moves and no command changes; the log is kept whole"):
        assert trim_idle(log) is log


def test_cli_trim_idle(tmp_path, truth_model):
    model = tmp_path / "pendulum.xml"
    model.write_text(PENDULUM_XML)
    moving = make_log(truth_model, 0.6, seed=24)
    n = 100  # 0.2 s at rest with a zero command before the motion
    time = np.r_[np.arange(n) * 0.002, moving.time + n * 0.002]
    log = Log("idle.csv", time, {"hinge": np.r_[np.zeros(n), moving.pos["hinge"]]},
              {"hinge": np.r_[np.zeros(n), moving.vel["hinge"]]}, {}, {"motor": np.r_[np.zeros(n), moving.ctrl["motor"]]})
    path = write_csv(log, tmp_path / "idle.csv")
    config = tmp_path / "fit.yaml"
    config.write_text("horizons: [0.1, 0.3]\noptimizer: lsq\noptimizer_options:\n  lsq: {max_iterations: 2}\n")
    argv = ["fit", "--model", str(model), "--log", str(path), "--params", "damping", "--config", str(config),
            "--trim-idle", "--threads", "2", "--out", str(tmp_path / "o"), "--quiet"]
    assert main(argv) == 0
    assert (tmp_path / "o" / "result.json").exists()
