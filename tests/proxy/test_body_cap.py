"""Compressed answers are decoded incrementally up to the body cap: a 200 MB answer that compresses
to a few hundred kilobytes must not be decoded whole in the recorder's memory."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import brotli
import pytest
import zstandard
from mitmproxy import http

from venom_replay.proxy.flows import capped_body

CAP = 1 << 20
BIG = 200 * (1 << 20)


def _response(raw: bytes, encoding: str) -> http.Response:
    """An answer whose bytes on the wire are ``raw`` (``make`` would encode a given body again)."""
    response = http.Response.make(200, b"", {"Content-Encoding": encoding, "Content-Type": "text/plain"})
    response.raw_content = raw
    return response


def _compressed(encoding: str, size: int) -> bytes:
    data = b"0123456789abcdef" * (size // 16)
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=6)
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "br":
        return brotli.compress(data, quality=1)
    return zstandard.ZstdCompressor().compress(data)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_a_huge_compressed_answer_is_cut_at_the_cap_without_decoding_it_whole(encoding):
    raw = _compressed(encoding, BIG)
    response = _response(raw, encoding)
    tracemalloc.start()
    try:
        body, truncated, size, notes = capped_body(response, CAP)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (len(body), truncated, size, notes) == (CAP, True, BIG, {})
    assert body == (b"0123456789abcdef" * (CAP // 16))
    assert peak < 64 * (1 << 20), f"decoding used {peak / 2**20:.0f} MB"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
def test_small_answers_are_decoded_whole(encoding):
    raw = _compressed(encoding, 4096)
    response = _response(raw, encoding)
    assert capped_body(response, CAP) == (b"0123456789abcdef" * 256, False, 4096, {})


def test_a_corrupt_stream_is_kept_as_sent_and_marked():
    response = _response(b"\x1f\x8b not gzip at all", "gzip")
    body, truncated, size, notes = capped_body(response, CAP)
    assert body == b"\x1f\x8b not gzip at all" and not truncated and notes == {"undecoded_encoding": "gzip"}
