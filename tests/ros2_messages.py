"""ROS 2 message definitions and a tiny MCAP writer for the loader tests (no ROS install needed)."""

from __future__ import annotations

import io

from mcap.writer import CompressionType
from mcap_ros2.writer import Writer

_TIME = """
================================================================================
MSG: std_msgs/Header
builtin_interfaces/Time stamp
string frame_id
================================================================================
MSG: builtin_interfaces/Time
int32 sec
uint32 nanosec
"""

MSGDEFS = {
    "sensor_msgs/msg/JointState": "std_msgs/Header header\nstring[] name\nfloat64[] position\n"
    "float64[] velocity\nfloat64[] effort" + _TIME,
    "std_msgs/msg/Float64MultiArray": """MultiArrayLayout layout
float64[] data
================================================================================
MSG: std_msgs/MultiArrayLayout
MultiArrayDimension[] dim
uint32 data_offset
================================================================================
MSG: std_msgs/MultiArrayDimension
string label
uint32 size
uint32 stride
""",
    "trajectory_msgs/msg/JointTrajectory": "std_msgs/Header header\nstring[] joint_names\n"
    "JointTrajectoryPoint[] points" + _TIME + """================================================================================
MSG: trajectory_msgs/JointTrajectoryPoint
float64[] positions
float64[] velocities
float64[] accelerations
float64[] effort
builtin_interfaces/Duration time_from_start
================================================================================
MSG: builtin_interfaces/Duration
int32 sec
uint32 nanosec
""",
    "std_msgs/msg/String": "string data\n",
}


def header(ns: int) -> dict:
    """A std_msgs/Header stamped `ns` nanoseconds."""
    return {"stamp": {"sec": ns // 1_000_000_000, "nanosec": ns % 1_000_000_000}, "frame_id": ""}


def joint_state(ns: int, names, position, velocity=(), effort=()) -> dict:
    return {"header": header(ns), "name": list(names), "position": list(position),
            "velocity": list(velocity), "effort": list(effort)}


def float_array(values) -> dict:
    return {"layout": {"dim": [], "data_offset": 0}, "data": list(values)}


def trajectory(ns: int, names, positions=(), effort=()) -> dict:
    point = {"positions": list(positions), "velocities": [], "accelerations": [], "effort": list(effort),
             "time_from_start": {"sec": 0, "nanosec": 0}}
    return {"header": header(ns), "joint_names": list(names), "points": [point]}


def mcap_bytes(messages, *, compression: CompressionType = CompressionType.NONE, empty_topics=()) -> bytes:
    """An MCAP file of `messages`: (topic, type, log_time_ns, message dict) tuples, in write order.

    `empty_topics`: (topic, type) channels registered without messages.
    """
    out = io.BytesIO()
    writer = Writer(out, compression=compression)
    schemas = {}

    def schema(kind):
        if kind not in schemas:
            schemas[kind] = writer.register_msgdef(kind, MSGDEFS[kind])
        return schemas[kind]

    for topic, kind in empty_topics:
        writer._writer.register_channel(topic=topic, message_encoding="cdr", schema_id=schema(kind).id)
    for topic, kind, log_ns, message in messages:
        writer.write_message(topic, schema(kind), message, log_time=log_ns, publish_time=log_ns)
    writer.finish()
    return out.getvalue()
