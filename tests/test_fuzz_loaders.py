"""Property tests: malformed CSV, Parquet and MCAP logs end in a correct Log or one clear UserError.

Each test builds a small file (often a valid one, then damaged: truncated, bytes replaced, random
bytes), loads it, and checks: the load returns a Log whose arrays are finite and whose time strictly
increases, or raises a one-line UserError, never any other exception; the file is unchanged. Inputs
built clean are also checked against the values written.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from mcap.writer import CompressionType
from ros2_messages import float_array, joint_state, mcap_bytes, trajectory

from sysid.data import Log, load_log
from sysid.errors import UserError

FUZZ = settings(max_examples=500, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NAMES = ["time", "a.pos", "b.pos", "a.vel", "a.effort", "m.ctrl", "junk", "", "a.pos ", "é.pos", "x;y", "time",
         '"a\nb"', '"time"']
NUMBER = st.floats(-1e6, 1e6, allow_nan=False, width=32)
ODD_NUMBER = st.one_of(NUMBER, st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0]))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def damage(data: bytes, draw) -> bytes:
    """`data` unchanged, truncated, with bytes replaced or inserted, or replaced by random bytes."""
    how = draw(st.sampled_from(["none", "none", "truncate", "replace", "insert", "random"]))
    if how == "truncate":
        return data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    if how in ("replace", "insert") and data:
        at = draw(st.integers(0, len(data) - 1))
        chunk = draw(st.binary(min_size=1, max_size=8))
        return data[:at] + chunk + data[at + (len(chunk) if how == "replace" else 0):]
    if how == "random":
        return draw(st.binary(max_size=300))
    return data


def load_checked(path, **kwargs) -> Log | None:
    """Loads `path`: a valid Log or a one-line UserError (then None); the file must not change."""
    before = path.read_bytes()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            log = load_log(path, **kwargs)
    except UserError as e:
        message = str(e)
        assert message and "\n" not in message and "\r" not in message, repr(message)
        event("UserError")
        log = None
    else:
        assert isinstance(log, Log) and log.time.ndim == 1 and len(log.time) >= 2
        assert np.isfinite(log.time).all() and (np.diff(log.time) > 0).all()
        for group in (log.pos, log.vel, log.effort, log.ctrl):
            for values in group.values():
                assert values.shape == log.time.shape and values.dtype == np.float64 and np.isfinite(values).all()
        event("Log")
    assert path.read_bytes() == before
    return log


# --- CSV -------------------------------------------------------------------------------------------

CELL = st.one_of(NUMBER.map(repr), st.integers(-5, 5).map(str),
                 st.sampled_from(["", "nan", "inf", "-inf", "abc", "1e400", " 3 ", '"4"', "0x10", "1,5", "é"]))


@st.composite
def csv_cases(draw):
    """(bytes, expected columns or None): a clean table (time increasing, numbers) or an odd one."""
    n = draw(st.integers(0, 6))
    if draw(st.booleans()):
        names = ["time"] + draw(st.lists(st.sampled_from(["a.pos", "b.pos", "a.vel", "m.ctrl"]), min_size=1, max_size=3, unique=True))
        if not any(name.endswith(".pos") for name in names):
            names.append("a.pos")
        steps = draw(st.lists(st.floats(1e-3, 10), min_size=n, max_size=n))
        columns = {"time": np.cumsum(steps)} | {name: np.array(draw(st.lists(NUMBER, min_size=n, max_size=n)), dtype=np.float64)
                                               for name in names[1:]}
        rows = [",".join(repr(float(columns[name][i])) for name in names) for i in range(n)]
        expected = columns if n >= 2 and (np.diff(columns["time"]) > 0).all() else None
    else:
        names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=5))
        rows = [",".join(draw(st.lists(CELL, min_size=len(names) - 1, max_size=len(names) + 1))) for _ in range(n)]
        expected = None
    text = "\n".join([",".join(names), *rows]) + draw(st.sampled_from(["\n", "", "\r\n", "\n\n"]))
    data = text.encode(draw(st.sampled_from(["utf-8", "utf-8", "latin-1", "utf-16"])), errors="replace")
    damaged = damage(data, draw)
    return damaged, expected if damaged == data and data.startswith(b"time") else None


@FUZZ
@given(case=csv_cases())
def test_fuzz_csv(folder, case):
    data, expected = case
    path = folder / "run.csv"
    path.write_bytes(data)
    log = load_checked(path)
    if expected is not None:
        assert log is not None, data
        np.testing.assert_allclose(log.time, expected["time"], rtol=1e-15)
        for name, values in expected.items():
            if name != "time":
                kind = name.split(".")[1]
                np.testing.assert_allclose(getattr(log, kind)[name.split(".")[0]], values, rtol=1e-15)


# --- Parquet ---------------------------------------------------------------------------------------


@st.composite
def parquet_columns(draw, n: int, kinds=("float", "odd", "int", "text", "bool", "list", "timestamp", "null")):
    """One column of `n` rows of one of `kinds` (numbers, odd numbers, text, bools, lists, times, nulls)."""
    kind = draw(st.sampled_from(kinds))
    if kind == "float":
        return pa.array(draw(st.lists(NUMBER, min_size=n, max_size=n)), pa.float64())
    if kind == "odd":
        return pa.array(draw(st.lists(st.one_of(ODD_NUMBER, st.none()), min_size=n, max_size=n)), pa.float32())
    if kind == "int":
        return pa.array(draw(st.lists(st.integers(-(2**62), 2**62), min_size=n, max_size=n)), pa.int64())
    if kind == "text":
        return pa.array(draw(st.lists(CELL, min_size=n, max_size=n)), pa.string())
    if kind == "bool":
        return pa.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), pa.bool_())
    if kind == "list":
        return pa.array(draw(st.lists(st.lists(NUMBER, max_size=2), min_size=n, max_size=n)), pa.list_(pa.float64()))
    if kind == "timestamp":
        return pa.array(sorted(draw(st.lists(st.integers(0, 2**40), min_size=n, max_size=n))), pa.timestamp("ms"))
    return pa.nulls(n, pa.float64())


@st.composite
def parquet_cases(draw, folder_path):
    n = draw(st.integers(0, 6))
    if draw(st.booleans()):
        names = ["time", "a.pos"] + draw(st.lists(st.sampled_from(["b.pos", "a.vel", "m.ctrl", "junk"]), max_size=2, unique=True))
        time = np.cumsum(draw(st.lists(st.floats(1e-3, 10), min_size=n, max_size=n)))
        kinds = ("float", "float", "int", "odd")
        columns = [pa.array(time, pa.float64())] + [draw(parquet_columns(n, kinds)) for _ in names[1:]]
    else:
        names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4))
        columns = [draw(parquet_columns(n)) for _ in names]
    table = pa.Table.from_arrays(columns, names=names)
    pq.write_table(table, folder_path, compression=draw(st.sampled_from(["none", "snappy", "zstd"])))
    data = folder_path.read_bytes()
    damaged = damage(data, draw)
    clean = (damaged == data and len(set(names)) == len(names) and n >= 2
             and all(pa.types.is_floating(c.type) or pa.types.is_integer(c.type) or name == "junk"
                     for name, c in zip(names, columns))
             and all(c.null_count == 0 and np.isfinite(c.to_numpy(zero_copy_only=False).astype(float)).all()
                     for name, c in zip(names, columns) if name != "junk"))
    return damaged, table if clean and "time" in names and "a.pos" in names else None


@FUZZ
@given(data=st.data())
def test_fuzz_parquet(folder, data):
    path = folder / "run.parquet"
    damaged, table = data.draw(parquet_cases(path))
    path.write_bytes(damaged)
    log = load_checked(path)
    if table is not None:
        assert log is not None
        np.testing.assert_array_equal(log.time, table.column("time").to_numpy())
        np.testing.assert_array_equal(log.pos["a"], table.column("a.pos").to_numpy().astype(np.float64))


# --- MCAP ------------------------------------------------------------------------------------------

JS, ARRAY, TRAJ = "sensor_msgs/msg/JointState", "std_msgs/msg/Float64MultiArray", "trajectory_msgs/msg/JointTrajectory"
JOINT_NAMES = st.sampled_from([["j1", "j2"], ["j1", "j2"], ["j1"], [], ["j1", "j1"], ["j2", "j1"], ["j\n1", "j2"]])


@st.composite
def mcap_cases(draw):
    """(bytes, map text, expected or None): a valid bag (states, Float64MultiArray commands) or an odd one."""
    valid = draw(st.booleans())
    n = draw(st.integers(0 if not valid else 1, 6))
    stamps = np.cumsum(draw(st.lists(st.integers(0 if not valid else 1, 3_000_000), min_size=n, max_size=n)))
    states, commands = [], []
    for i, t in enumerate(stamps):
        names = ["j1", "j2"] if valid else draw(JOINT_NAMES)
        values = st.lists(NUMBER if valid else ODD_NUMBER, min_size=len(names), max_size=len(names))
        position = draw(values if valid else st.one_of(values, st.lists(ODD_NUMBER, max_size=3)))
        velocity = draw(values) if valid or draw(st.booleans()) else []
        states.append(("/joint_states", JS, int(t), joint_state(int(t), names, position, velocity)))
    for _ in range(draw(st.integers(1 if valid else 0, 4))):
        t = draw(st.integers(0, int(stamps[-1]) if n else 10))
        kind = ARRAY if valid else draw(st.sampled_from([ARRAY, TRAJ, JS]))
        values = draw(st.lists(NUMBER if valid else ODD_NUMBER, min_size=2 if valid else 0, max_size=2 if valid else 3))
        message = {ARRAY: float_array(values), TRAJ: trajectory(t, draw(JOINT_NAMES), values),
                   JS: joint_state(t, draw(JOINT_NAMES), [], [], values)}[kind]
        commands.append(("/cmd", kind, t, message))
    if valid:
        map_text = "command_topic: /cmd\ncommand_names: [m1, m2]\njoints: {j1: shoulder}\n"
    else:
        map_text = "".join(draw(st.lists(st.sampled_from([
            "command_topic: /cmd\n", "command_topic: /missing\n", "command_topic: /empty\n",
            "command_names: [m1, m2]\n", "command_names: [m1]\n", "command_field: effort\n",
            "joints: {j1: shoulder}\n", "joints: {j9: x}\n", "actuators: {j1: m1}\n",
            "scale: {j1.pos: 2}\n", "scale: {q.pos: 2}\n", "time: log\n", "time: header\n", "time: [1]\n",
            "state_topic: /cmd\n", "unknown: 1\n"]), max_size=4, unique_by=lambda line: line.split(":")[0])))
    commands.sort(key=lambda m: m[2])  # written in time order; ties in draw order
    messages = sorted(states + commands, key=lambda m: m[2])
    compression = draw(st.sampled_from([CompressionType.NONE, CompressionType.ZSTD, CompressionType.LZ4]))
    data = mcap_bytes(messages, compression=compression, empty_topics=[("/empty", ARRAY)])
    damaged = damage(data, draw)
    clean = valid and damaged == data
    return damaged, map_text, clean, _expected_mcap(states, commands) if clean else None


def _expected_mcap(states, commands):
    """The log a valid bag must load as, by a plain loop: commands held at each state's time."""
    rows = []
    for _, _, t, message in states:
        issued = [c for c in commands if c[2] <= t]  # in log-time order, ties in write order
        if issued:
            rows.append((t, message["position"], issued[-1][3]["data"]))
    if len(rows) < 2:
        return None  # fewer than 2 rows: the loader must refuse it
    return {"time": [(t - rows[0][0]) / 1e9 for t, _, _ in rows], "shoulder": [p[0] for _, p, _ in rows],
            "j2": [p[1] for _, p, _ in rows], "m1": [c[0] for _, _, c in rows], "m2": [c[1] for _, _, c in rows]}


@FUZZ
@given(case=mcap_cases())
def test_fuzz_mcap(folder, case):
    data, map_text, clean, expected = case
    path, map_path = folder / "run.mcap", folder / "map.yaml"
    path.write_bytes(data)
    map_path.write_text(map_text)
    log = load_checked(path, map_path=map_path)
    if clean and expected is None:
        assert log is None
    elif clean:
        assert log is not None
        np.testing.assert_allclose(log.time, expected["time"], rtol=0, atol=1e-12)
        for name in ("shoulder", "j2"):
            np.testing.assert_array_equal(log.pos[name], np.float64(expected[name]))
        for name in ("m1", "m2"):
            np.testing.assert_array_equal(log.ctrl[name], np.float64(expected[name]))


# --- LeRobot ---------------------------------------------------------------------------------------

LEROBOT_MAPS = [
    "state: [a.pos, a.vel]\naction: [m.ctrl]\n",
    "state: [a.pos, null, a.vel]\naction: [m.ctrl]\nscale: {a.pos: 2.0}\n",
    "state: [a.pos]\n",
    "state: [nope.pos, a.pos]\naction: [m.ctrl, n.ctrl]\n",
    "state: a.pos\n",
    "{[",
]


def _vector_column(draw, n: int, width: int):
    kind = draw(st.sampled_from(["ok"] * 8 + ["ragged", "odd", "text", "null", "scalar"]))
    if kind == "ragged":
        rows = [draw(st.lists(NUMBER, max_size=width + 1)) for _ in range(n)]
        return pa.array(rows, pa.list_(pa.float64()))
    if kind == "text":
        return pa.array([draw(st.text(max_size=3)) for _ in range(n)], pa.string())
    if kind == "null":
        return pa.nulls(n, pa.list_(pa.float32()))
    if kind == "scalar":
        return pa.array(draw(st.lists(NUMBER, min_size=n, max_size=n)), pa.float64())
    number = ODD_NUMBER if kind == "odd" else NUMBER
    return pa.array([draw(st.lists(number, min_size=width, max_size=width)) for _ in range(n)], pa.list_(pa.float32()))


@st.composite
def lerobot_cases(draw, root):
    """A LeRobot v2 folder (often valid, then damaged: info.json, a column, the parquet bytes) and a map text."""
    n = draw(st.sampled_from([0, 1, 3, 4, 5, 6]))
    fps = draw(st.sampled_from([10, 50, 10, 50, 0, -1, "x", None]))
    info = {"codebase_version": "v2.1", "fps": fps}
    info_text = json.dumps(info) if draw(st.integers(0, 4)) else draw(st.sampled_from(["", "{", "[]", "null", '{"fps": 1e999}']))
    (root / "meta").mkdir(parents=True, exist_ok=True)
    (root / "meta" / "info.json").write_text(info_text)
    chunk = root / "data" / "chunk-000"
    chunk.mkdir(parents=True, exist_ok=True)
    for old in chunk.iterdir():
        old.unlink()
    columns = {"observation.state": _vector_column(draw, n, 2), "action": _vector_column(draw, n, 1),
               "frame_index": pa.array(np.arange(n), pa.int64())}
    if draw(st.booleans()):
        step = st.floats(-0.1, 0.5, allow_nan=False) if draw(st.booleans()) else st.floats(1e-3, 0.5)
        stamps = np.cumsum(draw(st.lists(step, min_size=n, max_size=n)))
        columns["timestamp"] = pa.array(stamps, pa.float32())
    pq.write_table(pa.table(columns), chunk / f"episode_{draw(st.sampled_from([0, 0, 1])):06d}.parquet")
    episode_file = next(chunk.iterdir())
    if draw(st.booleans()):
        episode_file.write_bytes(damage(episode_file.read_bytes(), draw))
    return draw(st.sampled_from(LEROBOT_MAPS[:3] * 2 + LEROBOT_MAPS[3:]))


@FUZZ
@given(data=st.data())
def test_fuzz_lerobot(folder, data):
    root = folder / "lerobot"
    map_text = data.draw(lerobot_cases(root))
    map_path = folder / "lerobot_map.yaml"
    map_path.write_text(map_text)
    files = {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            log = load_log(root, map_path=map_path, format="lerobot")
    except UserError as e:
        assert str(e) and "\n" not in str(e), repr(str(e))
        event("UserError")
    else:
        assert np.isfinite(log.time).all() and (np.diff(log.time) > 0).all() and len(log.time) >= 2
        for group in (log.pos, log.vel, log.ctrl):
            for values in group.values():
                assert values.shape == log.time.shape and np.isfinite(values).all()
        event("Log")
    assert {p: p.read_bytes() for p in files} == files


# --- config files, map files and command lines ----------------------------------------------------
# The boundary before any fit: each case is a correct result (a config, a map, a command that
# reaches the fit) or one UserError line (exit 2), never a traceback; no input file changes.

INPUTS = settings(max_examples=300, deadline=None, database=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SCALAR = st.one_of(st.integers(-3, 40), st.sampled_from([2**40, 10**25, -(10**25)]), NUMBER,
                   st.sampled_from([math.nan, math.inf, True, False, None, "", "abc", "x" * 300, "lsq", "cmaes+lsq", "huber"]))
VALUE = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.sampled_from(["a", "popsize", "lsq", "cmaes", "mean", "std",
                                                                                       "initial", "upper", "column", "scale"]),
                                                                      inner, max_size=3)), max_leaves=8)
BOMB = "a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n"


@st.composite
def yaml_texts(draw, keys: list[str]) -> bytes:
    """YAML built from `keys` and odd values, sometimes damaged, with anchors and aliases, or random."""
    import yaml

    doc = draw(st.dictionaries(st.sampled_from(keys), VALUE, max_size=5))
    text = yaml.safe_dump(doc, allow_unicode=True).encode()
    how = draw(st.sampled_from(["plain"] * 6 + ["damage", "bomb", "alias", "list", "random"]))
    if how == "damage":
        return damage(text, draw)
    if how == "bomb":
        return BOMB.encode() + text
    if how == "alias":
        return b"x: &v 1\n" + text + b"y: *v\n"
    if how == "list":
        return b"- 1\n- 2\n"
    if how == "random":
        return draw(st.binary(max_size=200))
    return text


def one_line_error(error: UserError) -> None:
    message = str(error)
    assert message and "\n" not in message and len(message) < 1500, repr(message[:2000])
    event("UserError")


@INPUTS
@given(text=yaml_texts(["horizons", "max_windows", "optimizer", "optimizer_options", "refine_states", "seed", "nthread",
                        "priors", "starts", "loss", "params", "actuators", "bogus"]))
def test_fuzz_config_file(folder, text):
    from sysid.config import load_config
    from sysid.fit import FitConfig

    path = folder / "fit.yaml"
    path.write_bytes(text)
    try:
        config = FitConfig(**load_config(path).run)
    except UserError as error:
        one_line_error(error)
    else:
        assert isinstance(config.seed, int) and 0 <= config.seed < 2**32 and config.starts >= 1
        assert all(math.isfinite(h) and h > 0 for h in config.horizons)
        event("FitConfig")
    assert path.read_bytes() == text


@INPUTS
@given(kind=st.sampled_from(["column", "column", "topic", "vector"]), data=st.data())
def test_fuzz_map_file(folder, kind, data):
    from sysid.data import load_column_map, load_topic_map, load_vector_map

    keys = {"column": ["time", "a.pos", "b.vel", "m.ctrl", "a.effort", "junk", "time.pos"],
            "topic": ["state_topic", "command_topic", "time", "joints", "actuators", "scale", "offset", "junk"],
            "vector": ["state", "action", "scale", "offset", "time", "junk"]}[kind]
    text = data.draw(yaml_texts(keys))
    path = folder / f"{kind}_map.yaml"
    path.write_bytes(text)
    load = {"column": load_column_map, "topic": load_topic_map, "vector": load_vector_map}[kind]
    try:
        load(path)
    except UserError as error:
        one_line_error(error)
    else:
        event("map")
    assert path.read_bytes() == text


class ReachedFit(Exception):
    """Every check before the fit passed: a correct result for these tests (the fit itself is not run)."""


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    import mujoco
    from conftest import PENDULUM_XML, TRUTH, make_log, with_values, write_csv
    from test_bundle import write_calib

    root = tmp_path_factory.mktemp("cli")
    (root / "robot.xml").write_text(PENDULUM_XML)
    write_csv(make_log(with_values(mujoco.MjModel.from_xml_string(PENDULUM_XML), TRUTH), 0.3, seed=1), root / "run.csv")
    (root / "bad.csv").write_bytes(b"time,hinge.pos\n0,1\nx,\xff\n")
    (root / "fit.yaml").write_text("horizons: [0.05]\noptimizer: lsq\n")
    (root / "bomb.yaml").write_text(BOMB)
    (root / "map.yaml").write_text("hinge.pos: {column: hinge.pos, scale: 1.0}\n")
    (root / "empty").mkdir()
    table = pd.read_csv(root / "run.csv")
    table["hinge.effort"] = table["motor.ctrl"]
    table.to_csv(root / "effort.csv", index=False)
    write_calib(root / "calib")
    return root


def _files(root) -> dict:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and "outs" not in p.parts}


@st.composite
def command_lines(draw, root) -> list[str]:
    """`sysid ...` argument lists: fit and export with odd options and files, unknown commands, stray tokens."""
    path = lambda *names: st.sampled_from([str(root / n) for n in names])  # noqa: E731
    out = draw(st.sampled_from([str(root / "outs" / "a")] * 4 + [str(root / "run.csv"), str(root / "outs" / "b" / "c")]))
    command = draw(st.sampled_from(["fit"] * 6 + ["export"] * 2 + ["actuator train", "residual train", "excite"] * 2
                                   + ["frobnicate", "actuator", "residual"]))
    args = command.split()
    number = lambda *good: st.sampled_from([*good, *good, "0", "-1", "nan", "inf", "1e30", "abc", "99999999999"])  # noqa: E731
    if command in ("actuator train", "residual train", "excite"):
        options = {
            "actuator train": {"--log": path("effort.csv", "effort.csv", "run.csv", "missing.csv"),
                               "--joint": st.sampled_from(["hinge", "hinge", "nope"]), "--net": st.sampled_from(["mlp", "lstm", "gru"]),
                               "--history": number("2"), "--hidden": st.sampled_from(["8", "4,4", "0", "-1", "a,b", "4097"]),
                               "--rate": number("50"), "--val": number("0.2"), "--epochs": number("1"), "--seed": number("3")},
            "residual train": {"--model": path("robot.xml", "robot.xml", "missing.xml"), "--log": path("run.csv", "run.csv", "bad.csv"),
                               "--hidden": st.sampled_from(["8", "0", "-1"]), "--members": number("2"),
                               "--inputs": st.sampled_from(["qpos,qvel,ctrl", "qvel", "bogus", "", "qvel,qvel"]),
                               "--val": number("0.2"), "--horizon": number("0.1"), "--epochs": number("1"),
                               "--result": path("calib/result.json", "missing.json", "run.csv")},
            "excite": {"--model": path("robot.xml", "robot.xml", "missing.xml"), "--params": st.sampled_from(["damping", "damping", "nope"]),
                       "--duration": number("2"), "--family": st.sampled_from(["fourier", "chirp", "bogus"]),
                       "--criterion": st.sampled_from(["d", "marginal", "x"]), "--lines": number("3"), "--max-freq": number("2"),
                       "--amplitude": number("0.5"), "--rate": number("100"), "--evaluations": number("4")},
        }[command]
        required = {"--log", "--joint", "--model", "--params", "--duration"}
        for name, values in options.items():
            if draw(st.integers(0, 19)) < (19 if name in required else 4):
                args += [name, draw(values)]
        args += ["--out", out, "--quiet"]
    if command == "export":
        args += [draw(path("calib", "calib", "calib", "empty", "missing", "run.csv")), "--out", out]
        args += draw(st.sampled_from([[], ["--widen", "3"], ["--widen", "-1"], ["--widen", "nan"], ["--widen", "abc"]]))
    elif command == "fit":
        options = {
            "--model": path(*["robot.xml"] * 15, "missing.xml", "run.csv", "empty", "bomb.yaml"),
            "--log": path(*["run.csv"] * 15, "bad.csv", "missing.csv", "robot.xml", "empty"),
            "--params": st.sampled_from(["damping", "damping,armature", "delay", "mass@*"] * 4 + ["nope", "", "x@@y", "a" * 200]),
            "--config": path("fit.yaml", "bomb.yaml", "missing.yaml", "run.csv"),
            "--map": path("map.yaml", "bomb.yaml", "missing.yaml"),
            "--seed": st.sampled_from(["0", "7", "-1", "99999999999999999999999", "abc", "1e3"]),
            "--threads": st.sampled_from(["1", "0", "-4", "x"]),
            "--starts": st.sampled_from(["1", "0", str(2**40)]),
            "--val": st.sampled_from(["0.2", "2", "nan", "-1", "0"]),
            "--optimizer": st.sampled_from(["lsq", "bogus", "cmaes+", "auto", "cmaes+lsq"]),
            "--loss": st.sampled_from(["huber", "linear", "bad"]),
            "--format": st.sampled_from(["csv", "mcap", "xml"]),
            "--episode": st.sampled_from(["0", "-2", "q"]),
            "--actuator": st.sampled_from(["pd@hinge", "bogus@hinge", "net:../x@hinge", "pd", "pd@nowhere"]),
        }
        required = {"--model", "--log", "--params"}
        for name, values in options.items():
            if draw(st.integers(0, 19)) < (19 if name in required else 1):
                args += [name, draw(values)]
        args += ["--out", out, "--quiet"]
    if draw(st.integers(0, 9)) == 0:
        args.insert(draw(st.integers(0, len(args))), draw(st.text(max_size=12)))
    return args


@settings(INPUTS, max_examples=400)
@given(data=st.data())
def test_fuzz_command_line(cli_files, data):
    import contextlib
    import io
    from unittest import mock

    from sysid.cli import main

    argv = data.draw(command_lines(cli_files))
    before = _files(cli_files)
    stderr = io.StringIO()
    try:
        with mock.patch("sysid.fit.fit", side_effect=ReachedFit), warnings.catch_warnings(), \
                mock.patch("actuator_models.train.train_network", side_effect=ReachedFit), \
                mock.patch("actuator_models.residual.train_residual", side_effect=ReachedFit), \
                mock.patch("sysid.excite.command.design", side_effect=ReachedFit), \
                contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    except ReachedFit:
        event("reached the fit")
    else:
        err = stderr.getvalue()
        lines = [line for line in err.splitlines() if not line.startswith("sysid: warning")]
        assert "Traceback" not in err
        if code == 0:
            assert argv[0] == "export" and lines == [], (argv, err)
            event("exported")
        else:
            assert code == 2 and len(lines) == 1 and lines[0].startswith("sysid: error: "), (argv, err)
            event("exit 2")
    assert _files(cli_files) == before
