"""TensorBoard event files as the `tensorboard` logger writes them, and how a resumed run
takes back what its files hold past the epoch it resumes from.

An event file is a sequence of records (TFRecord framing: the length as 8 bytes, its masked
CRC-32C, the serialized ``Event``, its masked CRC-32C). A run killed mid-write leaves a last
record cut short; reading stops there.
"""

from __future__ import annotations

import mmap
import os
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ...system.atomic import atomic_open
from ...system.reading import is_plain_file
from ..artifacts.layout import EVENT_FILE

_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")


def is_own(name: str) -> bool:
    """Whether ``name`` is the name of an event file bprop wrote."""
    return EVENT_FILE.fullmatch(name) is not None


def own_files(folder: Path) -> list[Path]:
    """bprop's event files in ``folder``, oldest first (by name, which starts with the time):
    regular files of its names (bprop never writes a link, nor follows one)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if is_own(p.name) and is_plain_file(p))


def records(data: bytes | mmap.mmap) -> Iterator[bytes]:
    """The whole, intact records of an event file's bytes, up to the first that is cut short or
    fails its checksum."""
    from tensorboardX.record_writer import masked_crc32c

    at = 0
    while at + _LENGTH.size + _CRC.size <= len(data):
        header = data[at : at + _LENGTH.size]
        (length,) = _LENGTH.unpack(header)
        (header_crc,) = _CRC.unpack_from(data, at + _LENGTH.size)
        start = at + _LENGTH.size + _CRC.size
        end = start + length
        if header_crc != masked_crc32c(header) or end + _CRC.size > len(data):
            return
        body = data[start:end]
        (body_crc,) = _CRC.unpack_from(data, end)
        if body_crc != masked_crc32c(body):
            return
        yield body
        at = end + _CRC.size


def framed(body: bytes) -> bytes:
    """One record holding ``body``."""
    from tensorboardX.record_writer import masked_crc32c

    header = _LENGTH.pack(len(body))
    return b"".join(
        (header, _CRC.pack(masked_crc32c(header)), body, _CRC.pack(masked_crc32c(body)))
    )


def events(path: Path) -> Iterator[Any]:
    """The ``Event`` messages of an event file (mapped, not read whole into memory), up to the
    first record that is cut short, fails its checksum or holds no event."""
    from google.protobuf.message import DecodeError
    from tensorboardX.proto.event_pb2 import Event

    with path.open("rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            for body in records(data):
                event = Event()
                try:
                    event.ParseFromString(body)
                except DecodeError:
                    return
                yield event


def trim(path: Path, keep: Callable[[str, int], bool]) -> None:
    """Rewrite the event file ``path`` (atomically) with only the summary values ``keep(tag,
    step)`` accepts; events without summaries (the file's version) stay."""
    with atomic_open(path, "wb", temporary=cut_name(path.name)) as fh:
        for event in events(path):
            if event.HasField("summary"):
                values = [v for v in event.summary.value if keep(v.tag, event.step)]
                if not values:
                    continue
                del event.summary.value[:]
                event.summary.value.extend(values)
            fh.write(framed(event.SerializeToString()))


def next_name(folder: Path, later: int = 0) -> str:
    """The name of the event file a new process writes in ``folder``: after every file bprop
    wrote there in TensorBoard's order (by name), so that a resumed run's events are read after
    the ones it continues (TensorBoard takes a step that goes back for a restart and drops what
    came after it); ``later``: that many names further on."""
    last = (0, -1)  # the (seconds, count) of the last of them
    for path in own_files(folder):
        fields = path.name.split(".")
        stamp, number = fields[3], fields[4] if len(fields) > 5 else ""
        if stamp.isdigit():
            last = max(last, (int(stamp), int(number) if number.isdigit() else 0))
    now = int(time.time())
    seconds, count = (now, 0) if now > last[0] else (last[0], last[1] + 1)
    count += later
    return f"events.out.tfevents.{seconds:010d}.{count:04d}.{socket.gethostname()}.bprop"


def cut_name(name: str) -> str:
    """The name under which an event file's cut-back copy is written before it replaces the
    file: without "tfevents", so that TensorBoard, which reads every file so named, never reads
    a copy that a kill left behind."""
    return name.replace("tfevents", "cutevents")


def is_own_or_cut(name: str) -> bool:
    """Whether ``name`` is one of bprop's event files, or the name of its cut-back copy."""
    return is_own(name) or is_own(name.replace("cutevents", "tfevents"))


class EventWriter:
    """Writes ``Event`` messages, one record each, to a new event file in a folder, starting
    with the file's version. The file is created new, never opened through a link or over
    anything already there (a name that is taken is passed over)."""

    def __init__(self, folder: Path) -> None:
        from tensorboardX.proto.event_pb2 import Event

        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        for later in range(100):
            self.path = folder / next_name(folder, later)
            try:
                fd = os.open(self.path, flags, 0o666)
                break
            except FileExistsError:
                continue
        else:
            raise FileExistsError(f"{folder}: no free name for a new event file")
        from tensorboardX.record_writer import masked_crc32c

        self._file, self._crc = os.fdopen(fd, "wb"), masked_crc32c
        self.write_event(Event(wall_time=time.time(), file_version="brain.Event:2"))

    def write_event(self, event: Any) -> None:
        """One record of ``event`` (as `framed`, inline: it is written for every update)."""
        body = event.SerializeToString()
        header = _LENGTH.pack(len(body))
        crc, pack = self._crc, _CRC.pack
        self._file.write(b"".join((header, pack(crc(header)), body, pack(crc(body)))))

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()
