"""Helpers for the managers' screens' tests: images (logging in: core.testing.weblogin)."""

from __future__ import annotations

import io
import struct
import zlib


def png(width: int = 2, height: int = 2) -> bytes:
    """A real PNG, written by hand so the tests need no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def upload(data: bytes, name: str = "photo.png"):
    return (io.BytesIO(data), name)
