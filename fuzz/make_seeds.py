#!/usr/bin/env python3
"""Writes the generated seed inputs of the fuzz corpora:

* fuzz/corpus/dtb/seed-damaged-*: damaged variants of seed-virt.dtb (which
  comes from `preboard board dts virt --dump-dtb`, see README.md);
* fuzz/corpus/virtqueue/seed-*: structured inputs in the layout documented
  on `soc::virtio::queue::fuzz_queue`.

Run from the repository root: python3 fuzz/make_seeds.py
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# --------------------------------------------------------------------------
# DTB: damaged variants of a good blob
# --------------------------------------------------------------------------

FDT_HEADER = ">10I"  # magic totalsize off_struct off_strings off_rsvmap
#                      version last_comp boot_cpuid size_strings size_struct


def dtb_variants(good):
    hdr = list(struct.unpack_from(FDT_HEADER, good))
    rest = good[struct.calcsize(FDT_HEADER):]

    def with_header(**kw):
        names = ["magic", "totalsize", "off_struct", "off_strings", "off_rsvmap",
                 "version", "last_comp", "boot_cpuid", "size_strings", "size_struct"]
        h = list(hdr)
        for k, v in kw.items():
            h[names.index(k)] = v & 0xFFFFFFFF
        return struct.pack(FDT_HEADER, *h) + rest

    off_struct, off_strings = hdr[2], hdr[3]
    out = {
        "truncated-header": good[:20],
        "truncated-half": good[: len(good) // 2],
        "bad-magic": with_header(magic=0xEDFE0DD0),
        "totalsize-too-big": with_header(totalsize=hdr[1] + 0x1000),
        "struct-past-end": with_header(off_struct=len(good) - 4),
        "strings-past-end": with_header(off_strings=len(good) + 8),
        "size-struct-wraps": with_header(size_struct=0xFFFFFFF0),
        "old-version": with_header(version=1, last_comp=1),
    }
    # A property name offset pointing far outside the strings block: the
    # first FDT_PROP token's nameoff.
    b = bytearray(good)
    i = off_struct
    while i + 12 <= off_strings:
        if struct.unpack_from(">I", b, i)[0] == 3:  # FDT_PROP
            struct.pack_into(">I", b, i + 8, 0x7FFFFFF0)
            break
        i += 4
    out["bad-nameoff"] = bytes(b)
    # A property length running past the struct block.
    b = bytearray(good)
    i = off_struct
    while i + 12 <= off_strings:
        if struct.unpack_from(">I", b, i)[0] == 3:
            struct.pack_into(">I", b, i + 4, 0x00FFFFFF)
            break
        i += 4
    out["prop-len-past-end"] = bytes(b)
    # Every END_NODE turned into NOP: nodes never close.
    b = bytearray(good)
    for j in range(off_struct, off_strings - 4, 4):
        if struct.unpack_from(">I", b, j)[0] == 2:
            struct.pack_into(">I", b, j, 4)
    out["unclosed-nodes"] = bytes(b)
    # Unterminated strings block.
    b = bytearray(good)
    end = off_strings + hdr[8]
    for j in range(off_strings, min(end, len(b))):
        if b[j] == 0:
            b[j] = ord("x")
    out["unterminated-strings"] = bytes(b)
    return out


def write_dtb_seeds():
    d = os.path.join(CORPUS, "dtb")
    with open(os.path.join(d, "seed-virt.dtb"), "rb") as f:
        good = f.read()
    for name, blob in dtb_variants(good).items():
        with open(os.path.join(d, f"seed-damaged-{name}.dtb"), "wb") as f:
            f.write(blob)


# --------------------------------------------------------------------------
# Virtqueue: the fuzz_queue layout
# --------------------------------------------------------------------------

RAM_BASE = 0x1_0000
RAM_SIZE = 0x2000
NEXT, WRITE, INDIRECT = 1, 2, 4


class Ram:
    def __init__(self):
        self.b = bytearray(RAM_SIZE)

    def desc(self, table, i, addr, length, flags, nxt):
        struct.pack_into("<QIHH", self.b, table + 16 * i, addr, length, flags, nxt)

    def avail(self, ring, size, idx, heads, flags=0, used_event=None):
        struct.pack_into("<HH", self.b, ring, flags, idx)
        for k, h in enumerate(heads):
            slot = (idx - len(heads) + k) % size
            struct.pack_into("<H", self.b, ring + 4 + 2 * slot, h)
        if used_event is not None:
            struct.pack_into("<H", self.b, ring + 4 + 2 * size, used_event)


def queue_input(log2_size, flags, next_avail, next_used, desc, avail, used, ram):
    head = struct.pack("<BBHHHHH", log2_size, flags, next_avail & 0xFFFF,
                       next_used & 0xFFFF, desc, avail, used)
    image = bytes(ram.b).rstrip(b"\0")  # trailing zeros are implied
    return head + image


def virtqueue_seeds():
    out = {}
    DESC, AVAIL, USED = 0x000, 0x1000, 0x1400
    BUF = RAM_BASE + 0x1800

    # One chain: a readable and a writable buffer.
    r = Ram()
    r.desc(DESC, 0, BUF, 16, NEXT, 1)
    r.desc(DESC, 1, BUF + 0x100, 32, WRITE, 0)
    r.b[0x1800:0x1810] = b"fuzz seed chain!"
    r.avail(AVAIL, 8, 1, [0])
    out["simple"] = queue_input(3, 0, 0, 0, DESC, AVAIL, USED, r)

    # Three chains, EVENT_IDX with used_event 1.
    r = Ram()
    for h in range(3):
        r.desc(DESC, 2 * h, BUF + 0x40 * h, 8, NEXT, 2 * h + 1)
        r.desc(DESC, 2 * h + 1, BUF + 0x200 + 0x40 * h, 8, WRITE, 0)
    r.avail(AVAIL, 8, 3, [4, 0, 2], used_event=1)
    out["event-idx"] = queue_input(3, 1, 0, 0, DESC, AVAIL, USED, r)

    # An indirect table of three descriptors.
    r = Ram()
    TABLE = 0x1700
    r.desc(DESC, 0, RAM_BASE + TABLE, 48, INDIRECT, 0)
    r.desc(TABLE, 0, BUF, 4, NEXT, 1)
    r.desc(TABLE, 1, BUF + 0x10, 4, NEXT, 2)
    r.desc(TABLE, 2, BUF + 0x20, 64, WRITE, 0)
    r.avail(AVAIL, 4, 1, [0])
    out["indirect"] = queue_input(2, 2, 0, 0, DESC, AVAIL, USED, r)

    # A descriptor loop (must end as ChainTooLong).
    r = Ram()
    r.desc(DESC, 0, BUF, 4, NEXT, 1)
    r.desc(DESC, 1, BUF, 4, NEXT, 0)
    r.avail(AVAIL, 2, 1, [0])
    out["loop"] = queue_input(1, 0, 0, 0, DESC, AVAIL, USED, r)

    # Indices about to wrap: next_avail 0xfffe, avail idx 1 (3 chains).
    r = Ram()
    for h in range(4):
        r.desc(DESC, h, BUF + 0x20 * h, 0x20, WRITE if h % 2 else 0, 0)
    r.avail(AVAIL, 4, 1, [1, 2, 3])
    out["wrap"] = queue_input(2, 1, 0xFFFE, 0xFFFF, DESC, AVAIL, USED, r)

    # Buffers outside RAM, and a zero-length one.
    r = Ram()
    r.desc(DESC, 0, 0, 0, NEXT, 1)
    r.desc(DESC, 1, RAM_BASE + RAM_SIZE - 8, 16, 0, 0)
    r.desc(DESC, 2, 0xFFFF_FFFF_FFFF_FFF0, 0x20, WRITE, 0)
    r.avail(AVAIL, 4, 2, [0, 2])
    out["out-of-ram"] = queue_input(2, 0, 0, 0, DESC, AVAIL, USED, r)

    # Ring addresses near 2^64 (flag bit 2).
    r = Ram()
    r.desc(DESC, 0, BUF, 8, 0, 0)
    r.avail(AVAIL, 8, 1, [0])
    out["high-rings"] = queue_input(3, 4, 0, 0, 0xFFF0, 0xFFFE, 0xFFFC, r)

    # The largest queue: 256 descriptors filling 4 KiB, many short chains.
    r = Ram()
    AV, US = 0x1000, 0x1208
    for i in range(256):
        r.desc(DESC, i, BUF + 8 * (i % 64), 8, WRITE if i % 3 == 0 else 0, 0)
    r.avail(AV, 256, 200, list(range(0, 200)), used_event=100)
    out["size-256"] = queue_input(8, 3, 0, 0, DESC, AV, US, r)

    # Writable before readable (must be rejected).
    r = Ram()
    r.desc(DESC, 0, BUF, 8, WRITE | NEXT, 1)
    r.desc(DESC, 1, BUF + 8, 8, 0, 0)
    r.avail(AVAIL, 2, 1, [0])
    out["write-then-read"] = queue_input(1, 0, 0, 0, DESC, AVAIL, USED, r)
    return out


def write_virtqueue_seeds():
    d = os.path.join(CORPUS, "virtqueue")
    for name, blob in virtqueue_seeds().items():
        with open(os.path.join(d, f"seed-{name}.bin"), "wb") as f:
            f.write(blob)


if __name__ == "__main__":
    write_dtb_seeds()
    write_virtqueue_seeds()
