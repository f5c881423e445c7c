"""The recording format: round trip, crash safety, and clear errors for files that are not recordings."""

from __future__ import annotations

import os
import stat

import msgpack
import pytest

from venom_replay.proxy.errors import RecordingError
from venom_replay.proxy.recording import (
    Exchange,
    RecordingWriter,
    Request,
    Response,
    read_recording,
)


def _exchange(i: int, session: str = "s1") -> Exchange:
    return Exchange(
        seq=0,
        session=session,
        started=1000.0 + i,
        ended=1000.5 + i,
        request=Request("POST", "http", "127.0.0.1", 8000, f"/items/{i}", [("q", "1")], [("Content-Type", "application/json")], b'{"a": 1}'),
        response=Response(201, "Created", [("Content-Type", "application/json")], b'{"id": %d}' % i),
    )


def test_round_trip_keeps_every_field(tmp_path):
    path = tmp_path / "r.vrec"
    with RecordingWriter(path, target="http://127.0.0.1:8000") as writer:
        for i in range(3):
            writer.write_exchange(_exchange(i, session=f"s{i % 2}"))
        writer.write_note("websocket", messages=2)
        failed = _exchange(9)
        failed.response, failed.error = None, "connection refused"
        writer.write_exchange(failed)
    rec = read_recording(path)
    assert rec.header.target == "http://127.0.0.1:8000"
    assert [ex.seq for ex in rec.exchanges] == [1, 2, 3, 4]
    assert rec.sessions == ["s0", "s1"]
    first = rec.exchanges[0]
    assert first.request.query == [("q", "1")]
    assert first.request.json() == {"a": 1}
    assert first.response.json() == {"id": 0}
    assert rec.exchanges[3].response is None and rec.exchanges[3].error == "connection refused"
    assert [n.kind for n in rec.notes] == ["websocket"]
    assert rec.complete_records == 6 and not rec.torn_tail


def test_file_is_private(tmp_path):
    path = tmp_path / "r.vrec"
    RecordingWriter(path).close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_existing_recording_is_never_overwritten(tmp_path):
    path = tmp_path / "r.vrec"
    with RecordingWriter(path) as writer:
        writer.write_exchange(_exchange(1))
    with pytest.raises(RecordingError, match="file exists"):
        RecordingWriter(path)
    with RecordingWriter(path, append=True) as writer:
        writer.write_exchange(_exchange(2))
    assert [ex.seq for ex in read_recording(path).exchanges] == [1, 2]


@pytest.mark.parametrize("cut", [1, 7, 30])
def test_torn_tail_keeps_complete_records(tmp_path, cut):
    path = tmp_path / "r.vrec"
    with RecordingWriter(path) as writer:
        for i in range(5):
            writer.write_exchange(_exchange(i))
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size - cut)
    rec = read_recording(path)
    assert len(rec.exchanges) == 4
    assert rec.torn_tail and rec.torn_offset is not None and rec.torn_offset < size - cut
    # Appending after a torn tail cuts it off first, so the file reads whole again.
    with RecordingWriter(path, append=True) as writer:
        writer.write_exchange(_exchange(7))
    again = read_recording(path)
    assert not again.torn_tail and [ex.seq for ex in again.exchanges] == [1, 2, 3, 4, 5]


def test_garbage_tail_is_reported_not_raised(tmp_path):
    path = tmp_path / "r.vrec"
    with RecordingWriter(path) as writer:
        writer.write_exchange(_exchange(1))
    with open(path, "ab") as fh:
        fh.write(b"\xc1\xc1\xc1 not msgpack")
    rec = read_recording(path)
    assert len(rec.exchanges) == 1 and rec.torn_tail


def test_not_a_recording(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is text\n")
    with pytest.raises(RecordingError, match=r"notes.txt: not a venom-replay recording"):
        read_recording(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.vrec"
    path.write_bytes(b"")
    with pytest.raises(RecordingError, match="empty"):
        read_recording(path)


def test_unknown_version(tmp_path):
    path = tmp_path / "future.vrec"
    path.write_bytes(msgpack.packb({"type": "header", "format": "venom-replay-recording", "version": 99}))
    with pytest.raises(RecordingError, match=r"version 99 is not supported"):
        read_recording(path)


def test_missing_file(tmp_path):
    with pytest.raises(RecordingError, match="no such file"):
        read_recording(tmp_path / "nope.vrec")
