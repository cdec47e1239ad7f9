"""libvips reads the source bytes where they lie: no copy per render, and never after a free."""

from __future__ import annotations

import ctypes
import gc

import pytest

from tests.transforms.images import corpus
from transforms import vips

PHOTO = "photo-large-6000x4000-progressive.jpg"


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
        )
    ]


def _heap_in_use() -> int:
    """Bytes glibc's malloc has handed out and not had back (heap and mmapped chunks)."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


def test_an_image_in_hand_holds_no_copy_of_its_source() -> None:
    """pyvips copies bytes passed to a *_buffer call into a blob of its own: 1.9 MB here, kept
    for the whole render, per render in flight."""
    vips.configure()
    data = corpus(PHOTO)
    held = []
    for _ in range(3):
        gc.collect()
        before = _heap_in_use()
        image = vips.thumbnail(data, 800, 533)
        held.append(_heap_in_use() - before)
        del image
    assert min(held) < len(data) // 2, (held, len(data))


def test_the_source_outlives_every_reference_but_the_image() -> None:
    vips.configure()
    expected = vips.thumbnail(corpus(PHOTO), 300, 200).avg()
    data = bytes(bytearray(corpus(PHOTO)))  # the only reference to these bytes
    image = vips.thumbnail(data, 300, 200)
    del data
    gc.collect()
    junk = [bytes([i]) * 2_000_000 for i in range(8)]  # reuse whatever was freed
    assert image.avg() == pytest.approx(expected)
    assert len(junk) == 8
