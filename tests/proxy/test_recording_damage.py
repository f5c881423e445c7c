"""A damaged stretch in the middle of a recording costs only the records it touches.

The corruptions a disk or a bad copy makes (a wrong type byte, random bytes, a run of zeros) are
written into a real recording at random offsets; the reader must keep every record that the damage
did not touch, report the skipped stretch, and `--append` must never cut off the good records after it.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from venom_replay.proxy.recording import Exchange, RecordingWriter, Request, Response, read_recording

N = 40


def _write(path: Path) -> list[tuple[int, int]]:
    """A recording of N exchanges; the byte span of each exchange record."""
    spans = []
    with RecordingWriter(path, target="http://api.test") as writer:
        for i in range(1, N + 1):
            start = path.stat().st_size
            body = json.dumps({"id": i, "type": "order", "note": "x" * (i % 7)}).encode()
            writer.write_exchange(Exchange(
                seq=i, session=f"s{i % 3}", started=float(i), ended=i + 0.5,
                request=Request("POST", "http", "api.test", 80, "/orders", headers=[("Content-Type", "application/json")], body=body),
                response=Response(201, headers=[("Content-Type", "application/json")], body=body)))
            spans.append((start, path.stat().st_size))
    return spans


CORRUPTIONS = st.sampled_from(["type-byte", "random", "zeros"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=CORRUPTIONS, which=st.integers(min_value=2, max_value=N - 1), where=st.floats(0, 1),
       noise=st.binary(min_size=16, max_size=16))
def test_damage_in_the_middle_loses_only_the_damaged_records(tmp_path_factory, kind, which, where, noise):
    path = tmp_path_factory.mktemp("rec") / "r.vrec"
    spans = _write(path)
    start, end = spans[which - 1]
    data = bytearray(path.read_bytes())
    offset = start if kind == "type-byte" else start + int(where * (end - start - 16))
    if kind == "type-byte":
        data[offset] = 0xC1  # a byte msgpack never uses
    elif kind == "random":
        data[offset:offset + 16] = noise
    else:
        data[offset:offset + 16] = bytes(16)
    path.write_bytes(bytes(data))

    rec = read_recording(path)
    seqs = [ex.seq for ex in rec.exchanges]
    untouched = [i for i, (s, e) in enumerate(spans, 1) if e <= offset or s >= offset + 16]
    assert set(untouched) <= set(seqs), f"lost untouched records {sorted(set(untouched) - set(seqs))}"
    assert seqs[-1] == N and not rec.torn_tail
    if seqs != list(range(1, N + 1)):  # the damage showed (random bytes inside a body may not)
        assert rec.skipped and rec.problems()
        assert all(start <= at <= end for at, _ in rec.skipped)  # the skip starts at the damaged record


def test_append_after_a_damaged_middle_keeps_every_good_record(tmp_path):
    path = tmp_path / "r.vrec"
    spans = _write(path)
    data = bytearray(path.read_bytes())
    start, _ = spans[N // 2]
    data[start:start + 16] = bytes(16)
    path.write_bytes(bytes(data))
    before = read_recording(path)
    assert len(before.exchanges) == N - 1 and before.skipped

    with RecordingWriter(path, append=True) as writer:
        writer.write_exchange(Exchange(seq=0, session="late", started=0.0, ended=0.0,
                                       request=Request("GET", "http", "api.test", 80, "/orders"),
                                       response=Response(200)))
    after = read_recording(path)
    assert [ex.seq for ex in after.exchanges] == [ex.seq for ex in before.exchanges] + [N + 1]
    assert path.stat().st_size > len(data)


def test_a_torn_tail_is_still_cut_on_append(tmp_path):
    path = tmp_path / "r.vrec"
    _write(path)
    whole = path.stat().st_size
    with open(path, "ab") as fh:
        fh.write(msgpack.packb({"type": "exchange", "seq": 99})[:5])
    rec = read_recording(path)
    assert rec.torn_tail and rec.torn_offset == whole and not rec.skipped
    with RecordingWriter(path, append=True):
        pass
    assert path.stat().st_size == whole
