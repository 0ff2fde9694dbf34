"""Tests for sysid.data: CSV and map loading, user errors, and the signal filters."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from sysid.data import Log, load_column_map, load_log, noise_std, smooth, velocity
from sysid.errors import UserError

HAPPY_CSV = """\
time,elbow.pos,elbow.vel,elbow.effort,elbow_motor.ctrl,wrist.pos
0.0,0.10,1.0,0.5,2.0,-1.0
0.01,0.11,1.1,0.6,2.5,-1.5
0.025,0.13,1.2,0.7,3.0,-2.0
"""


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def sines(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A smooth test signal (sum of sines 0.2-3 Hz, amplitude ~1) and its exact time-derivative."""
    freqs, amps, phases = [0.2, 0.7, 1.3, 2.1, 3.0], [0.5, 0.4, 0.3, 0.2, 0.1], [0.0, 1.0, 2.0, 3.0, 4.0]
    x = sum(a * np.sin(2 * np.pi * f * t + p) for f, a, p in zip(freqs, amps, phases))
    dx = sum(a * 2 * np.pi * f * np.cos(2 * np.pi * f * t + p) for f, a, p in zip(freqs, amps, phases))
    return x, dx


def jittered_time(rng: np.random.Generator, rate: float, duration: float) -> np.ndarray:
    """(N,) strictly increasing seconds, each step rate^-1 +- 30%."""
    steps = rng.uniform(0.7, 1.3, int(rate * duration)) / rate
    return np.concatenate([[0.0], np.cumsum(steps)])


# --- loading -------------------------------------------------------------------------------------


def test_load_csv_default_schema(tmp_path):
    path = write(tmp_path, "run.csv", HAPPY_CSV)
    log = load_log(path)
    assert isinstance(log, Log)
    assert log.source == str(path)
    np.testing.assert_array_equal(log.time, [0.0, 0.01, 0.025])
    assert log.joints == ["elbow", "wrist"]
    assert log.actuators == ["elbow_motor"]
    np.testing.assert_array_equal(log.pos["elbow"], [0.10, 0.11, 0.13])
    np.testing.assert_array_equal(log.pos["wrist"], [-1.0, -1.5, -2.0])
    np.testing.assert_array_equal(log.vel["elbow"], [1.0, 1.1, 1.2])
    np.testing.assert_array_equal(log.effort["elbow"], [0.5, 0.6, 0.7])
    np.testing.assert_array_equal(log.ctrl["elbow_motor"], [2.0, 2.5, 3.0])
    assert "wrist" not in log.vel and log.pos["elbow"].dtype == np.float64


def test_unknown_columns_are_ignored_with_a_warning(tmp_path):
    path = write(tmp_path, "run.csv", "time,notes,elbow.pos,elbow.torque\n0,a,1,5\n1,b,2,6\n")
    with pytest.warns(UserWarning, match=r"ignoring column\(s\) 'notes', 'elbow.torque'"):
        log = load_log(path)
    np.testing.assert_array_equal(log.pos["elbow"], [1.0, 2.0])
    assert log.effort == {} and log.ctrl == {}


def test_input_file_is_not_modified(tmp_path):
    path = write(tmp_path, "run.csv", HAPPY_CSV.replace("\n", "\r\n"))
    before = path.read_bytes()
    load_log(path)
    assert path.read_bytes() == before


def test_map_renames_scales_and_offsets(tmp_path):
    csv = write(
        tmp_path,
        "raw.csv",
        "timestamp_ms,q1_deg,tau_cmd,wrist.pos,elbow.pos\n1000,0,0.5,3,99\n1020,90,-0.5,4,99\n1050,180,1.0,5,99\n",
    )
    mapfile = write(
        tmp_path,
        "map.yaml",
        "time: {column: timestamp_ms, scale: 0.001}\n"
        "elbow.pos: {column: q1_deg, scale: 0.0174532925, offset: -1.0}\n"
        "elbow_motor.ctrl: {column: tau_cmd}\n",
    )
    with pytest.warns(UserWarning, match=r"ignoring column\(s\) 'elbow.pos': the map file gives"):
        log = load_log(csv, map_path=mapfile)
    np.testing.assert_allclose(log.time, [1.0, 1.02, 1.05])
    np.testing.assert_allclose(log.pos["elbow"], [-1.0, np.pi / 2 - 1.0, np.pi - 1.0], rtol=1e-8)  # map wins
    np.testing.assert_array_equal(log.ctrl["elbow_motor"], [0.5, -0.5, 1.0])
    np.testing.assert_array_equal(log.pos["wrist"], [3.0, 4.0, 5.0])  # schema column kept


def test_load_column_map_reads_entries(tmp_path):
    mapfile = write(tmp_path, "map.yaml", "time: {column: t_ms, scale: 1e-3}\nelbow.vel: {column: 7, offset: 2}\n")
    cmap = load_column_map(mapfile)
    assert cmap.source == str(mapfile)
    assert [(e.target, e.column, e.scale, e.offset) for e in cmap.entries] == [
        ("time", "t_ms", 0.001, 0.0),
        ("elbow.vel", "7", 1.0, 2.0),
    ]


def test_load_log_unknown_extension(tmp_path):
    path = write(tmp_path, "run.txt", HAPPY_CSV)
    with pytest.raises(UserError, match=re.escape(f"{path}: unknown log format '.txt'; supported: .csv")):
        load_log(path)


# --- user errors in a CSV: one case each ----------------------------------------------------------

CSV_ERRORS = {
    "empty_file": ("", r"file is empty"),
    "header_only": ("time,elbow.pos\n", r"no data rows"),
    "no_time_column": ("t,elbow.pos\n0,1\n1,2\n", r"no 'time' column; columns: 't', 'elbow.pos'"),
    "no_pos_column": ("time,elbow.vel\n0,1\n1,2\n", r"no JOINT.pos column"),
    "non_numeric_cell": ("time,elbow.pos\n0,1\n1,2\n2,abc\n", r"column 'elbow.pos', row 3: 'abc' is not a number"),
    "nan_cell": (
        "time,elbow.pos,elbow.vel\n0,1,0\n1,2,nan\n2,NaN,3\n",
        r"column 'elbow.vel', row 2: 'nan' is not a finite number",
    ),
    "inf_cell": ("time,elbow.pos\n0,1\n1,inf\n", r"column 'elbow.pos', row 2: 'inf' is not a finite number"),
    "empty_cell": ("time,elbow.pos,m.ctrl\n0,1,0\n1,2,0\n2,3,0\n3,,\n", r"column 'elbow.pos', row 4: empty cell"),
    "time_not_increasing": (
        "time,elbow.pos\n0,1\n0.1,2\n0.1,3\n0.3,4\n",
        r"column 'time', row 3: time 0.1 is not after row 2 \(0.1\)",
    ),
    "duplicate_column": (
        "time,elbow.pos,elbow.pos\n0,1,1\n1,2,2\n",
        r"duplicate column name 'elbow.pos' \(columns 2 and 3\)",
    ),
    "ragged_row": ("time,elbow.pos\n0,1\n1,2,3\n", r"cannot parse CSV: row 2 has 3 cells but the header has 2 columns"),
}


@pytest.mark.parametrize("text,message", CSV_ERRORS.values(), ids=CSV_ERRORS.keys())
def test_csv_user_error(tmp_path, text, message):
    path = write(tmp_path, "run.csv", text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UserError, match=re.escape(str(path)) + ": " + message) as info:
            load_log(path)
    assert "\n" not in str(info.value)


def test_csv_missing_file(tmp_path):
    path = tmp_path / "missing.csv"
    with pytest.raises(UserError, match=re.escape(f"{path}: file not found")):
        load_log(path)


def test_csv_unreadable_file(tmp_path):
    path = tmp_path / "folder.csv"
    path.mkdir()
    with pytest.raises(UserError, match=re.escape(f"{path}: cannot read file")):
        load_log(path)


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "run.csv"
    path.write_bytes(b"time,elbow.pos\n0,\xff\xfe\n1,2\n")
    with pytest.raises(UserError, match=re.escape(f"{path}: cannot read file")):
        load_log(path)


# --- user errors in a map file: one case each -----------------------------------------------------

MAP_ERRORS = {
    "unknown_key": ("elbow.pos: {column: q1, scal: 2}\n", r"entry 'elbow.pos': unknown key\(s\) 'scal'"),
    "non_numeric_scale": ("elbow.pos: {column: q1, scale: fast}\n", r"entry 'elbow.pos': 'scale' must be a number"),
    "non_numeric_offset": ("elbow.pos: {column: q1, offset: [1]}\n", r"entry 'elbow.pos': 'offset' must be a number"),
    "missing_column": ("elbow.pos: {scale: 2}\n", r"entry 'elbow.pos': missing 'column'"),
    "bad_target": ("elbow.position: {column: q1}\n", r"entry 'elbow.position': not a log signal name"),
    "not_a_mapping": ("elbow.pos: q1\n", r"entry 'elbow.pos': expected a mapping"),
    "yaml_syntax": ("elbow.pos: {column: q1\ntime: {column: t}\n", r"YAML syntax error at line 2"),
    "empty": ("", r"map file is empty"),
}


@pytest.mark.parametrize("text,message", MAP_ERRORS.values(), ids=MAP_ERRORS.keys())
def test_map_user_error(tmp_path, text, message):
    path = write(tmp_path, "map.yaml", text)
    with pytest.raises(UserError, match=re.escape(str(path)) + ": " + message) as info:
        load_column_map(path)
    assert "\n" not in str(info.value)


def test_map_missing_file(tmp_path):
    path = tmp_path / "map.yaml"
    with pytest.raises(UserError, match=re.escape(f"{path}: map file not found")):
        load_log(write(tmp_path, "run.csv", HAPPY_CSV), map_path=path)


def test_map_column_absent_from_csv(tmp_path):
    csv = write(tmp_path, "raw.csv", "time,q1_degs\n0,1\n1,2\n")
    mapfile = write(tmp_path, "map.yaml", "elbow.pos: {column: q1_deg}\n")
    expected = f"{mapfile}: entry 'elbow.pos': column 'q1_deg' is not in {csv}; did you mean 'q1_degs'?"
    with pytest.raises(UserError, match=re.escape(expected)):
        load_log(csv, map_path=mapfile)


def test_map_bad_cell_names_the_mapped_column(tmp_path):
    csv = write(tmp_path, "raw.csv", "time,q1\n0,1\n1,x\n")
    mapfile = write(tmp_path, "map.yaml", "elbow.pos: {column: q1}\n")
    expected = f"{csv}: column 'q1' (mapped to elbow.pos), row 2: 'x' is not a number"
    with pytest.raises(UserError, match=re.escape(expected)):
        load_log(csv, map_path=mapfile)


# --- filters ---------------------------------------------------------------------------------------


def test_smooth_uniform_value_and_derivative():
    rng = np.random.default_rng(0)
    t = np.arange(0, 4, 1 / 500)
    x, dx = sines(t)
    xs, dxs = smooth(t, x + 1e-3 * rng.standard_normal(t.shape))
    inner = slice(20, -20)
    assert np.sqrt(np.mean((xs - x)[inner] ** 2)) < 5e-4  # below the 1e-3 noise: it smooths
    assert np.sqrt(np.mean((dxs - dx)[inner] ** 2)) < 0.1  # rad/s, |dx| up to ~5
    assert np.max(np.abs(smooth(t, x)[1] - dx)[inner]) < 2e-3  # noiseless: nearly exact


def test_smooth_irregular_timestamps():
    rng = np.random.default_rng(1)
    t = jittered_time(rng, 500, 4)
    x, dx = sines(t)
    xs, dxs = smooth(t, x)
    inner = slice(20, -20)
    assert xs.shape == dxs.shape == t.shape
    assert np.max(np.abs(xs - x)) < 5e-4
    assert np.max(np.abs(dxs - dx)[inner]) < 2e-2
    # a window in seconds: a wider window smooths noise more
    noisy = x + 1e-2 * rng.standard_normal(t.shape)
    err = [np.sqrt(np.mean((smooth(t, noisy, window_s=w)[1] - dx)[100:-100] ** 2)) for w in (0.02, 0.2)]
    assert err[1] < err[0] / 5


def test_smooth_short_log():
    t = np.array([0.0, 0.1, 0.3])
    xs, dxs = smooth(t, t**2)
    np.testing.assert_allclose(xs, t**2)
    np.testing.assert_allclose(dxs, 2.0 * t, atol=1e-12)
    np.testing.assert_allclose(smooth(t[:2], 3.0 * t[:2])[1], [3.0, 3.0])
    t = np.linspace(0, 1, 7)  # shorter than the default window: the window shrinks to 7
    np.testing.assert_allclose(smooth(t, t**3)[1], 3 * t**2, atol=1e-9)


def test_velocity_derived_from_position_vs_analytic():
    rng = np.random.default_rng(2)
    t = jittered_time(rng, 500, 4)
    x, dx = sines(t)
    log = Log("synthetic", t, pos={"elbow": x + 1e-4 * rng.standard_normal(t.shape)})
    v = velocity(log, "elbow")
    assert v.shape == t.shape
    assert np.sqrt(np.mean((v - dx)[20:-20] ** 2)) < 0.03


def test_velocity_prefers_logged(tmp_path):
    log = load_log(write(tmp_path, "run.csv", HAPPY_CSV))
    np.testing.assert_array_equal(velocity(log, "elbow"), [1.0, 1.1, 1.2])
    # derived; 3 rows are too few to smooth: second-order finite differences, exact for a parabola
    parabola = np.polyfit(log.time, log.pos["wrist"], 2)
    np.testing.assert_allclose(velocity(log, "wrist"), np.polyval(np.polyder(parabola), log.time), rtol=1e-9)
    with pytest.raises(UserError, match=r"no joint 'knee' in the log; logged joints: elbow, wrist"):
        velocity(log, "knee")


@pytest.mark.parametrize("sigma", [2e-3, 2e-2])
@pytest.mark.parametrize("irregular", [False, True], ids=["uniform", "irregular"])
def test_noise_std_accuracy(sigma, irregular):
    rng = np.random.default_rng(3)
    t = jittered_time(rng, 500, 8) if irregular else np.arange(0, 8, 1 / 500)
    x, _ = sines(t)
    estimate = noise_std(t, x + sigma * rng.standard_normal(t.shape))
    assert abs(estimate / sigma - 1) < 0.15


def test_noise_std_floor_for_noiseless_signals():
    t = np.arange(0, 2, 1 / 500)
    assert noise_std(t, np.zeros_like(t)) == 1e-9
    assert noise_std(t, 3.0 + 0 * t) == pytest.approx(3e-9)
    assert noise_std(t, 4.0 * t) == pytest.approx(1e-9 * 4.0 * t[-1])  # a ramp fits exactly
    assert 0 < noise_std(t, sines(t)[0]) < 1e-6
    assert noise_std(t[:3], t[:3]) > 0  # too short to estimate: the floor
