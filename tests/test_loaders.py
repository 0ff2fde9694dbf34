"""Tests for the Parquet, MCAP (ROS 2) and LeRobot loaders and the loader registry."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ros2_messages import float_array, joint_state, mcap_bytes, trajectory

from sysid.cli import main
from sysid.data import Log, load_log, zero_order_hold
from sysid.errors import UserError

JS, ARRAY, TRAJ = "sensor_msgs/msg/JointState", "std_msgs/msg/Float64MultiArray", "trajectory_msgs/msg/JointTrajectory"
T0 = 1_700_000_000_000_000_000  # ns, a realistic epoch time


def write(tmp_path, name: str, content):
    path = tmp_path / name
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return path


def load_quiet(*args, **kwargs) -> Log:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_log(*args, **kwargs)


def user_error(message: str, *args, **kwargs) -> UserError:
    """Asserts that loading raises a one-line UserError matching `message`."""
    with pytest.raises(UserError, match=message) as info:
        load_quiet(*args, **kwargs)
    assert "\n" not in str(info.value)
    return info.value


# --- MCAP ------------------------------------------------------------------------------------------


def arm_bag(command_type: str = ARRAY) -> bytes:
    """States of joints j1, j2 every 2 ms (stamps = log times + 0.5 ms), a command every 5 ms from 3 ms."""
    messages = []
    for i in range(10):
        t = T0 + i * 2_000_000
        messages.append(("/joint_states", JS, t + 500_000, joint_state(t, ["j1", "j2"], [i, -i], [10 + i, 20 + i], [0.5, 0.25])))
    for k in range(4):
        t = T0 + 3_000_000 + k * 5_000_000
        message = {ARRAY: float_array([k, 10 * k]), TRAJ: trajectory(t, ["j1", "j2"], [k, 10 * k]),
                   JS: joint_state(t, ["j1", "j2"], [], [], [k, 10 * k])}[command_type]
        messages.append(("/cmd", command_type, t, message))
    messages.sort(key=lambda m: m[2])
    return mcap_bytes(messages)


def test_mcap_float_array_command_zero_order_held(tmp_path):
    bag = write(tmp_path, "run.mcap", arm_bag(ARRAY))
    mapfile = write(tmp_path, "map.yaml", "command_topic: /cmd\ncommand_names: [m1, m2]\njoints: {j1: shoulder}\n")
    before = bag.read_bytes()
    with pytest.warns(UserWarning, match="dropping the first 2 state message"):
        log = load_log(bag, map_path=mapfile)
    assert bag.read_bytes() == before
    # Float64MultiArray has no header: both streams on log time; states logged at 0.5, 2.5, ... ms
    np.testing.assert_allclose(log.time, np.arange(8) * 0.002)
    np.testing.assert_array_equal(log.pos["shoulder"], np.arange(2, 10))
    np.testing.assert_array_equal(log.pos["j2"], -np.arange(2, 10))
    np.testing.assert_array_equal(log.vel["shoulder"], 10 + np.arange(2, 10))
    np.testing.assert_array_equal(log.effort["j2"], np.full(8, 0.25))
    # commands at 3, 8, 13, 18 ms; states at 4.5, 6.5, ..., 18.5 ms hold the last one at or before
    np.testing.assert_array_equal(log.ctrl["m1"], [0, 0, 1, 1, 1, 2, 2, 3])
    np.testing.assert_array_equal(log.ctrl["m2"], [0, 0, 10, 10, 10, 20, 20, 30])


def test_mcap_trajectory_command_uses_header_stamps(tmp_path):
    bag = write(tmp_path, "run.mcap", arm_bag(TRAJ))
    mapfile = write(tmp_path, "map.yaml", "command_topic: /cmd\nactuators: {j1: m1, j2: m2}\n")
    with pytest.warns(UserWarning, match="dropping the first 2 state message"):
        log = load_log(bag, map_path=mapfile)
    # header stamps: states at 0, 2, ... ms, commands at 3, 8, ... ms; kept from the state at 4 ms
    np.testing.assert_allclose(log.time, np.arange(8) * 0.002)
    np.testing.assert_array_equal(log.pos["j1"], np.arange(2, 10))
    np.testing.assert_array_equal(log.ctrl["m1"], [0, 0, 1, 1, 1, 2, 2, 3])  # the state at 8 ms sees the 8 ms command
    assert log.actuators == ["m1", "m2"]


def test_mcap_joint_state_command_field_scale_offset_and_log_time(tmp_path):
    bag = write(tmp_path, "run.mcap", arm_bag(JS))
    mapfile = write(
        tmp_path, "map.yaml",
        "command_topic: /cmd\ncommand_field: effort\ncommand_names: [m1, m2]\ntime: log\n"
        "scale: {j1.pos: 0.5, m2.ctrl: 2}\noffset: {j1.pos: 1}\n",
    )
    log = load_quiet(bag, map_path=mapfile)
    np.testing.assert_allclose(log.time, np.arange(8) * 0.002)  # log times: states at 4.5 ms, ...
    np.testing.assert_allclose(log.pos["j1"], 0.5 * np.arange(2, 10) + 1)
    np.testing.assert_array_equal(log.ctrl["m2"], 2 * np.array([0, 0, 10, 10, 10, 20, 20, 30]))


def test_mcap_default_map_reads_joint_states_only(tmp_path):
    log = load_log(write(tmp_path, "run.mcap", arm_bag()))
    assert log.joints == ["j1", "j2"] and log.ctrl == {}
    np.testing.assert_allclose(log.time, np.arange(10) * 0.002)  # header stamps (no command topic to agree with)


def test_mcap_nan_effort_throughout_is_dropped(tmp_path):
    messages = [("/joint_states", JS, T0 + i, joint_state(T0 + i, ["a"], [i], [], [np.nan])) for i in range(3)]
    with pytest.warns(UserWarning, match="'a' effort is NaN throughout; ignoring it"):
        log = load_log(write(tmp_path, "run.mcap", mcap_bytes(messages)))
    assert log.effort == {} and list(log.pos) == ["a"]


def test_zero_order_hold_ties_order_and_before_first():
    held = zero_order_hold(np.array([0, 1, 2, 3, 5]), np.array([4, 1, 1, 3]), np.array([[40.0], [10], [11], [30]]))
    np.testing.assert_array_equal(held[:, 0], [np.nan, 11, 11, 30, 40])  # a tie: the later message wins


def states(stamps, names=("j1", "j2"), position=(1.0, 2.0)):
    return [("/joint_states", JS, T0 + s, joint_state(T0 + s, names, position)) for s in stamps]


MCAP_ERRORS = {
    "missing_topic": (states([0, 1]), "command_topic: /cmd\n",
                      r"no topic '/cmd'; topics: '/empty' \(std_msgs/msg/Float64MultiArray\), '/joint_states' \(sensor_msgs/msg/JointState\)"),
    "empty_topic": (states([0, 1]), "command_topic: /empty\n", r"topic '/empty' has no messages"),
    "unknown_joint_in_map": (states([0, 1]), "joints: {elbow: e}\n",
                             r"joints: 'elbow' is not a name on topic '/joint_states' of .*; names: 'j1', 'j2'"),
    "wrong_state_type": ([("/joint_states", ARRAY, T0, float_array([1]))], "",
                         r"topic '/joint_states' has type std_msgs/msg/Float64MultiArray; expected sensor_msgs"),
    "array_without_command_names": (states([0, 1]) + [("/cmd", ARRAY, T0, float_array([1.0]))], "command_topic: /cmd\n",
                                    r"command_names is needed"),
    "wrong_vector_length": (states([0, 1]) + [("/cmd", ARRAY, T0, float_array([1.0, 2.0, 3.0]))],
                            "command_topic: /cmd\ncommand_names: [m1, m2]\n",
                            r"topic '/cmd', message 1: 3 command values, expected 2 \(command_names in "),
    "duplicate_stamp": (states([0, 5, 5]), "", r"topic '/joint_states', message 3: time .* is not after message 2"),
    "nan_position": (states([0]) + [("/joint_states", JS, T0 + 1, joint_state(T0 + 1, ["j1", "j2"], [1.0, np.nan]))], "",
                     r"topic '/joint_states', message 2: 'j2' position is nan"),
    "names_change": (states([0]) + states([1], names=("j1", "j3")), "", r"message 2: joint names differ from message 1"),
    "position_length": (states([0, 1], position=(1.0,)), "", r"message 1: 1 position values for 2 joint names"),
    "command_names_without_topic": (states([0, 1]), "command_names: [m1]\n", r"command_names needs a command_topic"),
    "unknown_map_key": (states([0, 1]), "state: /x\n", r"unknown key\(s\) 'state'; allowed: state_topic"),
    "bad_scale_signal": (states([0, 1]), "scale: {j9.pos: 2}\n", r"scale: 'j9.pos' is not in the log"),
}


@pytest.mark.parametrize("messages,map_text,message", MCAP_ERRORS.values(), ids=MCAP_ERRORS.keys())
def test_mcap_user_error(tmp_path, messages, map_text, message):
    bag = write(tmp_path, "run.mcap", mcap_bytes(messages, empty_topics=[("/empty", ARRAY)]))
    user_error(message, bag, map_path=write(tmp_path, "map.yaml", map_text))


MAGIC = b"\x89MCAP0\r\n"
DAMAGED = {
    "truncated": (lambda data: data[:-20], r"incomplete MCAP file: it does not end with the MCAP magic bytes"),
    "too_short": (lambda data: data[:7], r"not an MCAP file"),
    "garbage_inside": (lambda data: MAGIC + bytes(range(256)) * 3 + MAGIC, r"cannot read MCAP file \("),
    "chunk_bytes_changed": (lambda data: data[:400] + b"\xff" * 8 + data[408:], r"cannot read MCAP file \("),
}


@pytest.mark.parametrize("change,message", DAMAGED.values(), ids=DAMAGED.keys())
def test_mcap_damaged_file(tmp_path, change, message):
    bag = write(tmp_path, "run.mcap", change(arm_bag()))
    user_error(re.escape(str(bag)) + ": " + message, bag)


def test_mcap_missing_file(tmp_path):
    user_error(r"missing.mcap: file not found", tmp_path / "missing.mcap")


# --- LeRobot ---------------------------------------------------------------------------------------


def lerobot_dataset(root, *, episodes=(0, 1), n=5, fps=10, timestamp=True, state_len=3, info=True):
    """A LeRobot v2 folder: episode e has state [e + i, 10 i, 100 i] and action [-i] at frame i."""
    if info:
        (root / "meta").mkdir(parents=True)
        features = {"observation.state": {"dtype": "float32", "shape": [state_len], "names": ["a", "b", "c"][:state_len]}}
        (root / "meta" / "info.json").write_text(json.dumps({"codebase_version": "v2.1", "fps": fps, "features": features}))
    (root / "data" / "chunk-000").mkdir(parents=True)
    for e in episodes:
        i = np.arange(n)
        columns = {
            "observation.state": pa.array([[e + k, 10.0 * k, 100.0 * k][:state_len] for k in i], pa.list_(pa.float32())),
            "action": pa.array([[-float(k)] for k in i], pa.list_(pa.float32())),
            "frame_index": pa.array(i, pa.int64()),
            "episode_index": pa.array(np.full(n, e), pa.int64()),
        }
        if timestamp:
            columns["timestamp"] = pa.array(i / fps, pa.float32())
        pq.write_table(pa.table(columns), root / "data" / "chunk-000" / f"episode_{e:06d}.parquet")
    return root


LEROBOT_MAP = "state: [shoulder.pos, null, shoulder.vel]\naction: [motor.ctrl]\nscale: {shoulder.vel: 0.5}\n"


def test_lerobot_episode(tmp_path):
    root = lerobot_dataset(tmp_path / "ds")
    mapfile = write(tmp_path, "map.yaml", LEROBOT_MAP)
    log = load_log(root, map_path=mapfile, episode=1)
    assert log.source == str(root)
    np.testing.assert_allclose(log.time, np.arange(5) / 10, rtol=1e-6)
    np.testing.assert_array_equal(log.pos["shoulder"], 1 + np.arange(5))
    np.testing.assert_array_equal(log.vel["shoulder"], 50.0 * np.arange(5))
    np.testing.assert_array_equal(log.ctrl["motor"], -np.arange(5))
    assert log.pos["shoulder"].dtype == np.float64
    np.testing.assert_array_equal(load_log(root, map_path=mapfile).pos["shoulder"], np.arange(5))  # default episode 0


def test_lerobot_time_from_frame_index_and_fps(tmp_path):
    root = lerobot_dataset(tmp_path / "ds", timestamp=False, fps=50)
    log = load_log(root, map_path=write(tmp_path, "map.yaml", LEROBOT_MAP), format="lerobot")
    np.testing.assert_allclose(log.time, np.arange(5) / 50)


def test_lerobot_errors(tmp_path):
    root = lerobot_dataset(tmp_path / "ds", episodes=(0, 1, 2, 5))
    mapfile = write(tmp_path, "map.yaml", LEROBOT_MAP)
    user_error(re.escape(f"{root}: no episode 3; episodes: 0-2, 5"), root, map_path=mapfile, episode=3)
    user_error(r"needs a map file \(--map\) .*info.json names observation.state: \['a', 'b', 'c'\]", root)
    short = write(tmp_path, "short.yaml", "state: [shoulder.pos, shoulder.vel]\n")
    user_error(r"episode 0 \(data/chunk-000/episode_000000.parquet\): column 'observation.state', row 1: "
               r"3 elements, but .*short.yaml names 2: shoulder.pos, shoulder.vel", root, map_path=short)
    other_key = write(tmp_path, "key.yaml", "state: [shoulder.pos, null, null]\nstate_key: observation.joints\n")
    user_error(r"no column 'observation.joints'; columns: 'observation.state'", root, map_path=other_key)


def test_lerobot_missing_info_json(tmp_path):
    root = lerobot_dataset(tmp_path / "ds", info=False)
    user_error(re.escape(f"{root}: not a LeRobot v2 dataset: no meta/info.json"), root,
               map_path=write(tmp_path, "map.yaml", LEROBOT_MAP))


def test_lerobot_map_errors(tmp_path):
    root = lerobot_dataset(tmp_path / "ds")
    for text, message in [
        ("action: [m.ctrl]\n", r"missing 'state'"),
        ("state: [shoulder.angle]\n", r"state: item 1 must be|'shoulder.angle' is not a signal name"),
        ("state: [a.pos, a.pos]\n", r"duplicate name\(s\) 'a.pos'"),
        ("state: [a.vel]\n", r"no JOINT.pos signal"),
    ]:
        user_error(message, root, map_path=write(tmp_path, "map.yaml", text))


def test_cli_format_and_episode(tmp_path, pendulum_path, capsys):
    root = lerobot_dataset(tmp_path / "ds")
    mapfile = write(tmp_path, "map.yaml", "state: [hinge.pos, null, null]\naction: [motor.ctrl]\n")
    argv = ["fit", "--model", str(pendulum_path), "--log", str(root), "--map", str(mapfile), "--params", "damping",
            "--format", "lerobot", "--episode", "4", "--out", str(tmp_path / "out"), "--quiet"]
    assert main(argv) == 2
    assert "no episode 4; episodes: 0-1" in capsys.readouterr().err


# --- Parquet and the registry ----------------------------------------------------------------------


def test_parquet_schema_map_and_timestamp_column(tmp_path):
    frame = pd.DataFrame({
        "stamp": pd.to_datetime([1_000, 1_020, 1_050], unit="ms"),
        "q1_deg": np.array([0, 90, 180], np.int32),
        "elbow_motor.ctrl": np.array([0.5, -0.5, 1.0], np.float32),
        "notes": ["a", "b", "c"],
    })
    path = tmp_path / "run.parquet"
    frame.to_parquet(path)
    mapfile = write(tmp_path, "map.yaml", "time: {column: stamp}\nelbow.pos: {column: q1_deg, scale: 0.0174532925199}\n")
    with pytest.warns(UserWarning, match=r"ignoring column\(s\) 'notes'"):
        log = load_log(path, map_path=mapfile)
    np.testing.assert_allclose(log.time, [1.0, 1.02, 1.05])
    np.testing.assert_allclose(log.pos["elbow"], [0, np.pi / 2, np.pi])
    np.testing.assert_array_equal(log.ctrl["elbow_motor"], [0.5, -0.5, 1.0])


PARQUET_ERRORS = {
    "nan": ({"time": [0.0, 1, 2], "a.pos": [1.0, np.nan, 2]}, r"column 'a.pos', row 2: nan is not a finite number"),
    "null": ({"time": [0.0, 1, 2], "a.pos": pa.array([1.0, None, 2])}, r"column 'a.pos', row 2: empty cell"),
    "text": ({"time": [0.0, 1], "a.pos": ["x", "1"]}, r"column 'a.pos': type string is not a number, e.g. 'x'"),
    "no_time": ({"t": [0.0, 1], "a.pos": [1.0, 2]}, r"no 'time' column; columns: 't', 'a.pos'"),
    "time_repeats": ({"time": [0.0, 1, 1], "a.pos": [1.0, 2, 3]}, r"column 'time', row 3: time 1 is not after row 2"),
    "no_rows": ({"time": pa.array([], pa.float64()), "a.pos": pa.array([], pa.float64())}, r"no data rows"),
}


@pytest.mark.parametrize("columns,message", PARQUET_ERRORS.values(), ids=PARQUET_ERRORS.keys())
def test_parquet_user_error(tmp_path, columns, message):
    path = tmp_path / "run.parquet"
    pq.write_table(pa.table(columns), path)
    user_error(re.escape(str(path)) + ": " + message, path)


def test_parquet_damaged_file(tmp_path):
    path = write(tmp_path, "run.parquet", b"PAR1 this is not parquet")
    user_error(re.escape(str(path)) + r": cannot read Parquet file", path)


def test_format_overrides_extension_and_episode_needs_lerobot(tmp_path):
    path = write(tmp_path, "run.log", "time,a.pos\n0,1\n1,2\n")
    np.testing.assert_array_equal(load_log(path, format="csv").pos["a"], [1, 2])
    user_error(r"unknown --format 'txt'; formats: csv, parquet, mcap, lerobot, servo-json", path, format="txt")
    user_error(r"--episode applies to LeRobot datasets only", path, format="csv", episode=1)
    user_error(r"unknown log format '.log'; supported: .csv, .json, .mcap, .parquet, .pq, a LeRobot", path)
