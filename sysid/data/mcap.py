"""Reads an MCAP file of ROS 2 messages (a `ros2 bag` in MCAP storage) into a `Log`.

State: `sensor_msgs/msg/JointState` (name[], position[], velocity[], effort[]) on one topic.
Command, optional: `sensor_msgs/msg/JointState`, `std_msgs/msg/Float64MultiArray` or
`trajectory_msgs/msg/JointTrajectory` (its first point) on another. A YAML map (`--map`) says
which, every key optional::

    state_topic: /joint_states            # default /joint_states
    command_topic: /cmd                   # default: none, the log has no commands
    command_field: effort                 # JointState / JointTrajectory field sent to the actuators:
                                          # position (default), velocity or effort
    command_names: [shoulder_motor, elbow_motor]  # actuator of each command element, in order;
                                          # needed for Float64MultiArray, else the message's names
    joints: {joint1: shoulder}            # ROS joint name -> MJCF joint name
    actuators: {joint1: shoulder_motor}   # ROS command name -> MJCF actuator name
    scale: {shoulder.pos: 0.0174533}      # SIGNAL -> factor, after renaming
    offset: {shoulder.pos: -1.5708}       # SIGNAL -> added after scaling
    time: auto                            # header, log or auto

Time: `header` uses the message header stamps, `log` the recorder's log times; `auto` (default)
uses header stamps when every message on both topics has a non-zero one, else log times. The
log's time base is the state messages' times, in seconds from the first kept one; commands are
zero-order held onto it and state rows before the first command are dropped with a warning.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any, Literal

import numpy as np

from sysid.data.log import Log
from sysid.data.ros2 import Topic, read_topics
from sysid.data.yaml_map import apply_factors, choice, factors, name_list, read_yaml_map, renames, text
from sysid.errors import UserError
from sysid.inputs import check_file

JOINT_STATE = "sensor_msgs/msg/JointState"
FLOAT_ARRAY = "std_msgs/msg/Float64MultiArray"
TRAJECTORY = "trajectory_msgs/msg/JointTrajectory"
_FIELDS = {"position": "positions", "velocity": "velocities", "effort": "effort"}  # JointTrajectoryPoint


@dataclasses.dataclass(frozen=True)
class TopicMap:
    """Which topics hold the state and the commands, and how their names and units map to the MJCF.

    Attributes: as the keys of the map file (module docstring); `source` is the map file, for messages.
    """

    source: str = "(default topic map)"
    state_topic: str = "/joint_states"
    command_topic: str | None = None
    command_field: Literal["position", "velocity", "effort"] = "position"
    command_names: tuple[str, ...] = ()
    joints: dict[str, str] = dataclasses.field(default_factory=dict)
    actuators: dict[str, str] = dataclasses.field(default_factory=dict)
    scale: dict[str, float] = dataclasses.field(default_factory=dict)
    offset: dict[str, float] = dataclasses.field(default_factory=dict)
    time: Literal["auto", "header", "log"] = "auto"


def load_topic_map(path: str | os.PathLike) -> TopicMap:
    """Reads the YAML map of an MCAP log; every mistake raises `UserError` naming the file and key."""
    source = os.fspath(path)
    doc = read_yaml_map(source, tuple(f.name for f in dataclasses.fields(TopicMap) if f.name != "source"))
    parse = {
        "state_topic": text,
        "command_topic": text,
        "command_field": lambda w, v: choice(w, v, tuple(_FIELDS)),
        "command_names": name_list,
        "joints": renames,
        "actuators": renames,
        "scale": factors,
        "offset": factors,
        "time": lambda w, v: choice(w, v, ("auto", "header", "log")),
    }
    orphans = [key for key in ("command_field", "command_names", "actuators") if key in doc]
    if orphans and "command_topic" not in doc:
        raise UserError(f"{source}: {orphans[0]} needs a command_topic")
    return TopicMap(source, **{key: parse[key](f"{source}: {key}", value) for key, value in doc.items()})


def load_mcap(path: str | os.PathLike, *, topic_map: TopicMap | None = None) -> Log:
    """Reads an MCAP log; the file is only read, never written.

    Returns:
      A `Log` on the state messages' time base: (N,) seconds from the first kept state message,
      positions (and velocities, efforts when logged) per joint, commands held per actuator.
    """
    source = os.fspath(check_file(path, what="file"))  # streamed: no size cap
    tmap = topic_map or TopicMap()
    topics = [tmap.state_topic] + ([tmap.command_topic] if tmap.command_topic else [])
    streams = read_topics(source, topics)
    state = streams[tmap.state_topic]
    state.expect(source, (JOINT_STATE,))
    use_header = tmap.time == "header" or (tmap.time == "auto" and all(s.has_stamps() for s in streams.values()))
    state_ns = state.times(source, use_header)
    bad = np.flatnonzero(np.diff(state_ns) <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise UserError(
            f"{source}: topic {state.topic!r}, message {i + 1}: time {_seconds(state_ns[i])} s is not after "
            f"message {i} ({_seconds(state_ns[i - 1])} s); states must strictly increase in time"
            + ("; try 'time: log' in the map" if use_header else "")
        )
    names, columns = _joint_states(source, state)
    signals: dict[str, dict[str, np.ndarray]] = {"pos": {}, "vel": {}, "effort": {}, "ctrl": {}}
    joints = dict(zip(names, _rename(source, tmap.source, "joints", tmap.joints, names, state.topic)))
    for kind, group in columns.items():
        signals[kind] = {joints[name]: values for name, values in group.items()}
    keep = np.ones(len(state_ns), dtype=bool)
    if tmap.command_topic:
        command = streams[tmap.command_topic]
        command.expect(source, (JOINT_STATE, FLOAT_ARRAY, TRAJECTORY))
        actuators, values = _commands(source, tmap, command)
        command_ns = command.times(source, use_header)
        held = zero_order_hold(state_ns, command_ns, values)
        keep = state_ns >= command_ns.min()
        if not keep.any():
            raise UserError(f"{source}: topic {command.topic!r}: the first command comes after the last state message")
        if not keep.all():
            warnings.warn(
                f"{source}: dropping the first {int((~keep).sum())} state message(s) of {state.topic!r}: "
                f"they come before the first command on {command.topic!r}",
                stacklevel=3,
            )
        signals["ctrl"] = {actuator: held[:, k] for k, actuator in enumerate(actuators)}
    apply_factors(tmap.source, signals, tmap.scale, tmap.offset)
    time = (state_ns[keep] - state_ns[keep][0]) / 1e9
    cut = {kind: {name: v[keep] for name, v in group.items()} for kind, group in signals.items()}
    return Log(source, time, cut["pos"], cut["vel"], cut["effort"], cut["ctrl"])


def zero_order_hold(time: np.ndarray, command_time: np.ndarray, commands: np.ndarray) -> np.ndarray:
    """The last command issued at or before each of `time`.

    Args:
      time: (N,) query times, increasing.
      command_time: (M,) times the commands were issued, any order (ties: the later message wins).
      commands: (M, K) command values.

    Returns:
      (N, K) held commands; NaN rows before the first command.
    """
    order = np.argsort(command_time, kind="stable")
    index = np.searchsorted(command_time[order], time, side="right") - 1
    held = np.full((len(time), commands.shape[1]), np.nan)
    held[index >= 0] = commands[order][index[index >= 0]]
    return held


def _joint_states(source: str, state: Topic) -> tuple[list[str], dict[str, dict[str, np.ndarray]]]:
    """The joint names and kind (`pos`, `vel`, `effort`) -> joint -> (N,) values of JointState messages.

    A velocity or effort that is NaN in every message (a joint without that sensor) is left out.
    """
    names = _names(source, state, 0, _get(source, state, 0, "name"))
    if not names:
        raise UserError(f"{source}: topic {state.topic!r}, message 1: no joint names")
    fields = {"pos": "position", "vel": "velocity", "effort": "effort"}
    rows: dict[str, list[np.ndarray]] = {kind: [] for kind in fields}
    for i in range(len(state.messages)):
        if _names(source, state, i, _get(source, state, i, "name")) != names:
            raise UserError(f"{source}: topic {state.topic!r}, message {i + 1}: joint names differ from message 1's")
        for kind, field in fields.items():
            values = _floats(source, state, i, field, _get(source, state, i, field))
            if len(values) not in ((len(names),) if kind == "pos" else (0, len(names))):
                raise UserError(
                    f"{source}: topic {state.topic!r}, message {i + 1}: {len(values)} {field} values for "
                    f"{len(names)} joint names"
                )
            if i > 0 and (len(values) > 0) != (len(rows[kind]) > 0):
                raise UserError(
                    f"{source}: topic {state.topic!r}, message {i + 1}: {field} is logged in some messages only"
                )
            if len(values):
                rows[kind].append(values)
    columns: dict[str, dict[str, np.ndarray]] = {kind: {} for kind in fields}
    for kind, r in rows.items():
        for j, name in enumerate(names if r else []):
            values = np.stack(r)[:, j]
            finite = np.isfinite(values)
            if kind != "pos" and not finite.any():
                warnings.warn(f"{source}: topic {state.topic!r}: {name!r} {fields[kind]} is NaN throughout; ignoring it",
                              stacklevel=4)
            elif not finite.all():
                i = int(np.argmin(finite))
                raise UserError(f"{source}: topic {state.topic!r}, message {i + 1}: {name!r} {fields[kind]} is {values[i]}")
            else:
                columns[kind][name] = values
    return names, columns


def _commands(source: str, tmap: TopicMap, command: Topic) -> tuple[list[str], np.ndarray]:
    """The actuator names and (M, K) command values of the command messages."""
    rows, message_names = [], None
    for i, message in enumerate(command.messages):
        if command.type == FLOAT_ARRAY:
            values, names = _get(source, command, i, "data"), None
        elif command.type == JOINT_STATE:
            values, names = _get(source, command, i, tmap.command_field), _get(source, command, i, "name")
        else:
            points, names = _get(source, command, i, "points"), _get(source, command, i, "joint_names")
            if not isinstance(points, list) or not points:
                raise UserError(f"{source}: topic {command.topic!r}, message {i + 1}: a JointTrajectory without points")
            values = getattr(points[0], _FIELDS[tmap.command_field], None)
        values = _floats(source, command, i, tmap.command_field if names is not None else "data", values)
        if names is not None:
            names = _names(source, command, i, names)
            if message_names is not None and names != message_names:
                raise UserError(f"{source}: topic {command.topic!r}, message {i + 1}: names differ from message 1's")
            message_names = names
        expected = len(tmap.command_names) if tmap.command_names else len(names or [])
        if names is None and not tmap.command_names:
            raise UserError(
                f"{tmap.source}: command_names is needed: {FLOAT_ARRAY} on {command.topic!r} does not name its elements"
            )
        if len(values) != expected or (names is not None and len(names) != expected):
            raise UserError(
                f"{source}: topic {command.topic!r}, message {i + 1}: {len(values)} command values, expected "
                f"{expected} ({'command_names in ' + tmap.source if tmap.command_names else 'one per name'})"
            )
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise UserError(f"{source}: topic {command.topic!r}, message {i + 1}: element {bad[0] + 1} is {values[bad[0]]}")
        rows.append(values)
    if tmap.command_names:
        actuators = list(tmap.command_names)
    else:
        actuators = _rename(source, tmap.source, "actuators", tmap.actuators, message_names or [], command.topic)
    return actuators, np.stack(rows).reshape(len(rows), len(actuators))


def _rename(source: str, map_source: str, key: str, table: dict[str, str], names: list[str], topic: str) -> list[str]:
    unknown = [name for name in table if name not in names]
    if unknown:
        raise UserError(
            f"{map_source}: {key}: {unknown[0]!r} is not a name on topic {topic!r} of {source}; "
            f"names: {', '.join(map(repr, names))}"
        )
    renamed = [table.get(name, name) for name in names]
    clash = sorted({n for n in renamed if renamed.count(n) > 1})
    if clash:
        raise UserError(f"{map_source}: {key}: two names on topic {topic!r} become {clash[0]!r}")
    return renamed


def _get(source: str, stream: Topic, i: int, field: str) -> Any:
    if not hasattr(stream.messages[i], field):
        raise UserError(f"{source}: topic {stream.topic!r}, message {i + 1}: no field {field!r} in {stream.type}")
    return getattr(stream.messages[i], field)


def _floats(source: str, stream: Topic, i: int, field: str, value: Any) -> np.ndarray:
    try:
        values = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        values = np.zeros((0, 0))
    if values.ndim != 1 or isinstance(value, (str, bytes)):
        raise UserError(f"{source}: topic {stream.topic!r}, message {i + 1}: {field!r} is not a list of numbers")
    return values


def _names(source: str, stream: Topic, i: int, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(n, str) and n for n in value):
        raise UserError(f"{source}: topic {stream.topic!r}, message {i + 1}: names must be a list of non-empty strings")
    if len(set(value)) != len(value):
        raise UserError(f"{source}: topic {stream.topic!r}, message {i + 1}: duplicate names in {value}")
    return value


def _seconds(ns: int) -> str:
    """Nanoseconds as exact decimal seconds."""
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"
