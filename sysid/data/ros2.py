"""Reading the ROS 2 messages of some topics out of an MCAP file (a `ros2 bag` in MCAP storage).

A damaged file (bad magic bytes, CRC, lengths, compressed data, message encoding) raises `UserError`
naming the file; so do a missing topic (listing the topics there are) and an empty one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
from typing import Any

import numpy as np

from sysid.data.table import one_line
from sysid.errors import UserError

_MAGIC = b"\x89MCAP0\r\n"


@dataclasses.dataclass
class Topic:
    """The decoded messages of one topic of an MCAP file, in log-time order.

    Attributes:
      topic: its name.
      type: its message type, e.g. `sensor_msgs/msg/JointState`.
      log_ns: (M,) the recorder's log times, nanoseconds.
      messages: (M,) decoded messages (attributes named as the message fields).
    """

    topic: str
    type: str
    log_ns: list[int]
    messages: list[Any]

    def expect(self, source: str, types: tuple[str, ...]) -> None:
        """Raises unless the topic has one of `types`."""
        if self.type not in types:
            raise UserError(f"{source}: topic {self.topic!r} has type {self.type}; expected {' or '.join(types)}")

    def stamps(self) -> list[int | None]:
        """Each message's header stamp in nanoseconds, None without one."""
        return [_stamp(m) for m in self.messages]

    def has_stamps(self) -> bool:
        """Whether every message has a non-zero header stamp."""
        return all(s is not None and s > 0 for s in self.stamps())

    def times(self, source: str, use_header: bool) -> np.ndarray:
        """(M,) int64 nanoseconds: header stamps (`use_header`) or log times; a missing stamp raises."""
        times = self.stamps() if use_header else self.log_ns
        for i, t in enumerate(times):
            if t is None or (use_header and t <= 0):
                raise UserError(f"{source}: topic {self.topic!r}, message {i + 1}: no header stamp; use 'time: log'")
            if t >= 2**62:
                raise UserError(f"{source}: topic {self.topic!r}, message {i + 1}: time {t} ns is out of range")
        return np.asarray(times, dtype=np.int64)


def read_topics(source: str, topics: list[str]) -> dict[str, Topic]:
    """Topic -> its decoded messages; a missing or empty topic raises, naming the topics there are."""
    from mcap.reader import SeekingReader
    from mcap_ros2.decoder import DecoderFactory

    if not os.path.exists(source):
        raise UserError(f"{source}: file not found")
    _check_magic(source)
    try:  # the ROS message parser prints to stderr before raising: the UserError below says it instead
        with open(source, "rb") as f, contextlib.redirect_stderr(io.StringIO()):
            size = os.fstat(f.fileno()).st_size
            reader = SeekingReader(f, validate_crcs=True, record_size_limit=max(size, 1024))
            summary = reader.get_summary()
            found: dict[str, str] = {}
            if summary is not None:
                for channel in summary.channels.values():
                    schema = summary.schemas.get(channel.schema_id)
                    found[channel.topic] = _type_name(schema.name if schema else "(no schema)")
            streams = {topic: Topic(topic, found.get(topic, ""), [], []) for topic in topics}
            factory, decoders = DecoderFactory(), {}
            wanted = topics if summary is not None else None
            for schema, channel, message in reader.iter_messages(topics=wanted, log_time_order=True):
                found.setdefault(channel.topic, _type_name(schema.name if schema else "(no schema)"))
                stream = streams.get(channel.topic)
                if stream is None:
                    continue
                if channel.id not in decoders:
                    decoders[channel.id] = factory.decoder_for(channel.message_encoding, schema)
                if decoders[channel.id] is None:
                    raise UserError(
                        f"{source}: topic {channel.topic!r} is not ROS 2 CDR (message encoding "
                        f"{channel.message_encoding!r}, schema {schema.encoding if schema else 'none'})"
                    )
                stream.type = found[channel.topic]
                stream.log_ns.append(message.log_time)
                stream.messages.append(decoders[channel.id](message.data))
    except UserError:
        raise
    except Exception as e:  # a damaged file can fail anywhere inside the mcap libraries: report, don't crash
        raise UserError(f"{source}: cannot read MCAP file ({type(e).__name__}: {one_line(e)})") from None
    for topic, stream in streams.items():
        if topic not in found:
            listed = ", ".join(f"{t!r} ({found[t]})" for t in sorted(found)) or "none"
            raise UserError(f"{source}: no topic {topic!r}; topics: {listed}")
        if not stream.messages:
            raise UserError(f"{source}: topic {topic!r} has no messages")
    return streams


def _check_magic(source: str) -> None:
    """An MCAP file starts and ends with the magic bytes; a recording cut short lacks the end."""
    try:
        with open(source, "rb") as f:
            head = f.read(len(_MAGIC))
            f.seek(max(os.fstat(f.fileno()).st_size - len(_MAGIC), 0))
            tail = f.read(len(_MAGIC))
    except OSError as e:
        raise UserError(f"{source}: cannot read file ({one_line(e)})") from None
    if head != _MAGIC:
        raise UserError(f"{source}: not an MCAP file (it does not start with the MCAP magic bytes)")
    if tail != _MAGIC:
        raise UserError(
            f"{source}: incomplete MCAP file: it does not end with the MCAP magic bytes (a recording cut short? "
            "`mcap recover` can rebuild it)"
        )


def _stamp(message: Any) -> int | None:
    """The header stamp in nanoseconds, or None without a header."""
    stamp = getattr(getattr(message, "header", None), "stamp", None)
    sec, nanosec = getattr(stamp, "sec", None), getattr(stamp, "nanosec", None)
    if not isinstance(sec, int) or not isinstance(nanosec, int):
        return None
    return sec * 1_000_000_000 + nanosec


def _type_name(name: str) -> str:
    """`sensor_msgs/JointState` (ROS 1 style) -> `sensor_msgs/msg/JointState`."""
    package, _, rest = name.partition("/")
    return f"{package}/msg/{rest}" if rest and "/" not in rest else name
