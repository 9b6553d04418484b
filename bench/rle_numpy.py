"""rle_numpy: the numpy side of the RLE benchmark (bench/run.sh).

    rle_numpy.py encode [--no-crc] -o CSV STREAM   stream -> id,rle_mask CSV
    rle_numpy.py core [-n RUNS] [-o FILE] STREAM   time the encoder alone

encode is what a numpy user would write in place of `tgs-rle encode`: read
the masks into one N x H x W array, then the usual Kaggle RLE per mask.
core loads the masks first (untimed) and prints the best of RUNS passes of
the encoder over all of them:
    impl=numpy stage=core masks=N seconds=S masks_s=R

The reader is a fast one for this job, not formats/tgs_stream.py: it reads
the file whole and walks the record headers with struct, taking the mask
bytes as views. It checks each record's header and data CRC-32 (zlib) as
tgs-rle does, so both sides give the same guarantee; --no-crc skips that,
to show what the checks cost.
"""
import argparse
import struct
import sys
import time
import zlib

import numpy as np

FIXED = struct.Struct("<4sBBBBHH")  # magic, version, dtype, ndim, flags, name_len, reserved
SIZES = {1: 1, 2: 2, 3: 4, 4: 8, 5: 4, 6: 8, 7: 1}  # dtype code -> bytes per element
U8, STR, END_OF_SAMPLE = 1, 7, 1


def read_masks(path, crc=True):
    """(ids, masks): ids a list of str, masks an N x H x W uint8 array,
    from each sample's 'id' and 'mask' records."""
    with open(path, "rb") as f:
        buf = f.read()
    view = memoryview(buf)
    ids, offs, shape = [], [], None
    pos, end = 0, len(buf)
    sid = moff = None
    while pos < end:
        magic, version, dtype, ndim, flags, nlen, _ = FIXED.unpack_from(buf, pos)
        if magic != b"TGSR" or version != 1:
            raise ValueError(f"{path}: byte {pos}: not a version 1 record")
        dims = struct.unpack_from(f"<{ndim}I", buf, pos + 12)
        hlen = 12 + 4 * ndim + nlen
        name = buf[pos + 12 + 4 * ndim:pos + hlen]
        nbytes = SIZES[dtype]
        for d in dims:
            nbytes *= d
        data = pos + hlen + 4
        if crc:
            (hcrc,) = struct.unpack_from("<I", buf, pos + hlen)
            (dcrc,) = struct.unpack_from("<I", buf, data + nbytes)
            if zlib.crc32(view[pos:pos + hlen]) != hcrc or zlib.crc32(view[data:data + nbytes]) != dcrc:
                raise ValueError(f"{path}: byte {pos}: checksum mismatch")
        if name == b"id" and dtype == STR:
            sid = buf[data:data + nbytes].decode()
        elif name == b"mask" and dtype == U8:
            hw = dims[-2:]
            if shape is None:
                shape = hw
            elif hw != shape or len(dims) not in (2, 3) or (len(dims) == 3 and dims[0] != 1):
                raise ValueError(f"{path}: masks of different shapes")
            moff = data
        pos = data + nbytes + 4
        if flags & END_OF_SAMPLE:
            if sid is None or moff is None:
                raise ValueError(f"{path}: a sample without id or mask")
            ids.append(sid)
            offs.append(moff)
            sid = moff = None
    h, w = shape
    flat = np.frombuffer(buf, dtype=np.uint8)
    masks = np.empty((len(offs), h, w), dtype=np.uint8)
    npx = h * w
    for i, o in enumerate(offs):
        masks[i] = flat[o:o + npx].reshape(h, w)
    return ids, masks


def rle(mask):
    """Kaggle's RLE of an H x W 0/1 mask: column-major, 1-based starts."""
    pixels = mask.flatten(order="F")
    pixels = np.concatenate([[0], pixels, [0]])
    runs = np.where(pixels[1:] != pixels[:-1])[0] + 1
    runs[1::2] -= runs[::2]
    # Python ints format about twice as fast as numpy scalars one by one
    return " ".join(map(str, runs.tolist()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cmd", choices=["encode", "core"])
    ap.add_argument("stream")
    ap.add_argument("-o", "--output")
    ap.add_argument("-n", "--runs", type=int, default=5)
    ap.add_argument("--no-crc", action="store_true")
    a = ap.parse_args()
    if a.cmd == "encode":
        ids, masks = read_masks(a.stream, crc=not a.no_crc)
        lines = [f"{i},{rle(m)}\n" for i, m in zip(ids, masks)]
        with open(a.output, "w") if a.output else sys.stdout as f:
            f.write("id,rle_mask\n")
            f.write("".join(lines))
        return
    _, masks = read_masks(a.stream)
    masks = (masks != 0).astype(np.uint8)  # 0/1, as rle_bench has them
    best = float("inf")
    for _ in range(a.runs):
        t0 = time.perf_counter()
        texts = [rle(m) for m in masks]
        best = min(best, time.perf_counter() - t0)
    n = len(masks)
    print(f"impl=numpy stage=core masks={n} seconds={best:.4f} masks_s={n / best:.0f}")
    if a.output:
        with open(a.output, "w") as f:
            f.write("".join(t + "\n" for t in texts))


if __name__ == "__main__":
    main()
