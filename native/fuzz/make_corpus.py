#!/usr/bin/env python3
# Writes the seed corpus native/fuzz/corpus/ for gcm_fuzz.cc: one named file per shape worth
# starting from (lengths at every kernel's group and tail boundaries, IV and AAD lengths,
# counters just below the 2^32 wrap, chunk runs). The header layout is gcm_fuzz.cc's; change
# both together. Deterministic: rerunning rewrites the same bytes.
#   python3 native/fuzz/make_corpus.py
import os
import random

random.seed(5)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
seeds = {}


def header(fields):
    h = bytearray(32)
    for off, val, n in fields:
        h[off:off + n] = val.to_bytes(n, "little")
    return bytes(h)


def payload(n):
    return bytes(random.getrandbits(8) for _ in range(n))


def msg(name, mode=0, k256=0, mis=0, mis2=0, iv=12, aad=0, lc=1, ln=0, tw=0, tp=0, tb=0, wrap=0):
    iv_byte = 0 if iv == 12 else 128 + (iv - 1)
    seeds[name] = header([(0, mode, 1), (1, k256 | (mis << 1), 1), (2, mis2, 1), (3, iv_byte, 1),
                          (4, aad, 2), (6, lc, 1), (7, ln, 2), (9, tw, 1), (10, tp, 4),
                          (14, tb, 1), (15, wrap, 2)]) + payload(48)


def chunks(name, k256=0, mis=0, cc=1, c=63, n=3, last=10, fc=0, first=0, split=1, mk=0, mc=0,
           pos=0, x=1):
    seeds[name] = header([(0, 2, 1), (1, k256 | (mis << 1), 1), (3, cc, 1), (4, c, 2),
                          (6, n - 1, 1), (7, last, 2), (9, fc, 1), (10, first, 8), (18, split, 1),
                          (19, mk, 1), (20, mc, 1), (21, pos, 4), (25, x, 1)]) + payload(40)


def race(name, what, ln, offs, k256=1, aad=20, x=1, calls=8):
    fields = [(0, 0x80, 1), (1, k256, 1), (3, what, 1), (4, aad, 1), (6, ln, 2),
              (9, len(offs) - 1, 1), (18, x, 1), (19, calls - 1, 1)]
    fields += [(10 + 2 * i, o, 2) for i, o in enumerate(offs)]
    seeds[name] = header(fields) + payload(64)


# Kept under 50 files so the folder stays under 200 KB on disk (4 KB blocks).
# Lengths around the 128-, 256- and 512-byte groups and their tails (length class 1: & 0xfff).
for i, ln in enumerate([0, 1, 15, 16, 17, 63, 64, 127, 128, 129, 255, 256, 257, 511, 512, 513,
                        1024, 4095]):
    msg(f"msg-len{ln}", k256=i & 1, mis=(i * 5) % 128, mis2=i * 37 % 256, aad=(i * 7) % 40, ln=ln,
        tw=i % 5, tp=i * 131, tb=i)
for i, iv in enumerate([1, 11, 13, 16, 60, 64, 80]):
    msg(f"msg-iv{iv}", k256=(i + 1) & 1, mis=i * 3, iv=iv, aad=20, ln=60 + i * 50, tw=3, tp=i)
for i, aad in enumerate([1, 16, 17, 256, 513, 2047]):
    msg(f"msg-aad{aad}", k256=i & 1, mis=i * 9, aad=aad, lc=0, ln=i * 23, tw=2, tp=i * 7)
msg("msg-big-65536", lc=3, ln=16384, k256=1, mis=0x3b)          # class 3: (len << 2) | (lc >> 6)
msg("msg-big-200003", lc=3 | (3 << 6), ln=50000, iv=16, aad=100)
for i, (w, ln) in enumerate([(0, 1100), (1, 16), (8, 128), (31, 600), (64, 1100),
                             (1099, 3000)]):
    msg(f"wrap-{w}-{ln}", mode=1, k256=i & 1, mis=i * 11, wrap=w, ln=ln, aad=i * 3, tw=i % 5)
chunks("chunks-tiny", cc=0, c=0, n=5, last=0, split=2)
chunks("chunks-64x5-short", c=63, n=5, last=10, first=7, split=3, mc=4, pos=5)
chunks("chunks-64x5-emptylast", c=63, n=5, last=0, split=4, mk=1, mc=1)
chunks("chunks-1k", k256=1, c=1023, n=3, last=952, first=1000, mk=2, mc=1)
chunks("chunks-4k-edge", cc=2, c=4095, n=1, last=4096, fc=1, pos=4100)
chunks("chunks-64k", k256=1, cc=2, c=65535, n=3, last=1, fc=2, first=42, split=2, mk=2, mc=2, x=0x55)
chunks("chunks-odd", mis=0x2d, c=16, n=24, last=5, fc=1, split=11, mk=1, mc=3, pos=17)
chunks("chunks-513", k256=1, mis=0x13, c=512, n=7, last=513, split=6, mc=6, pos=520, x=0x80)

# Racing (a second thread toggles bytes during the calls): the first block of each group of
# an open's input, and bytes of the last groups of a seal's output.
race("race-open-groups", 0, 1124, [0, 128, 256, 512])
race("race-seal-out-last", 1, 1124, [768, 800, 900, 1010])

os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"{len(seeds)} seeds, {sum(map(len, seeds.values()))} bytes in {OUT}")
