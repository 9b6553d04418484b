"""tgs_stream: read and write tgs tensor streams with numpy.

The format is formats/tensor-stream.md; lib/common/stream.c is the C side.
A sample is a dict, name -> numpy array (or str for a str record), in
stream order:

    import tgs_stream
    for s in tgs_stream.read("train.tsr"):
        print(s["id"], s["image"].shape)            # 28f865caaa (3, 101, 101)
    tgs_stream.write("out.tsr", [{"id": "x", "prob": p.astype("float32")}])

Run as a script, it prints a summary of a stream:
    python3 formats/tgs_stream.py FILE     ("-" for stdin)
"""
import math
import os
import struct
import stat
import tempfile
import sys
import zlib

import numpy as np

MAGIC, VERSION = b"TGSR", 1
END_OF_SAMPLE = 1
MAX_DIMS, MAX_NAME, MAX_RECORD_BYTES, MAX_RECORDS = 8, 255, 1 << 32, 256
STR = 7
# dtype code -> numpy dtype (little-endian); 7 is str (UTF-8 bytes, 1-d)
DTYPES = {1: np.dtype("<u1"), 2: np.dtype("<u2"), 3: np.dtype("<i4"),
          4: np.dtype("<i8"), 5: np.dtype("<f4"), 6: np.dtype("<f8")}
NAMES = {1: "u8", 2: "u16", 3: "i32", 4: "i64", 5: "f32", 6: "f64", 7: "str"}
CODES = {(d.kind, d.itemsize): code for code, d in DTYPES.items()}
# fixed header: magic, version, dtype, ndim, flags, name_len (u16), reserved (u16)
FIXED = struct.Struct("<4sBBBBHH")


class StreamError(ValueError):
    """A stream that is not well formed; the message says where."""


def _name_ok(name):
    return 1 <= len(name) <= MAX_NAME and all(0x21 <= ord(c) <= 0x7E and c != "," for c in name)


def _open(f, mode):
    """(file object, name for messages, whether we opened it)."""
    if isinstance(f, str) and f == "-":
        return (sys.stdin.buffer if "r" in mode else sys.stdout.buffer), ("<stdin>" if "r" in mode else "<stdout>"), False
    if hasattr(f, "read" if "r" in mode else "write"):
        return f, str(getattr(f, "name", "<stream>")), False
    return open(f, mode), str(f), True


def _read_full(fp, n):
    """Up to n bytes as a bytearray (shorter only at end of file)."""
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = fp.readinto(view[got:])
        if not k:
            break
        got += k
    return buf[:got] if got < n else buf


def _read_record(fp, path, nrec, offset):
    """One record as (name, value, flags, bytes used), or None at end of file."""
    def err(what, name=None):
        return StreamError("%s: record %d%s (byte %d): %s" % (path, nrec, " '%s'" % name if name else "", offset, what))

    h = _read_full(fp, FIXED.size)
    if not h:
        return None
    if len(h) < FIXED.size:
        raise err("truncated record header")
    magic, version, code, ndim, flags, name_len, reserved = FIXED.unpack(h)
    if magic != MAGIC:
        raise err("bad magic (not a tgs tensor stream?)")
    if version != VERSION:
        raise err("unsupported version %d (this reader reads %d)" % (version, VERSION))
    if code not in NAMES:
        raise err("unknown dtype code %d" % code)
    if ndim > MAX_DIMS:
        raise err("%d dimensions (at most %d)" % (ndim, MAX_DIMS))
    if flags & ~END_OF_SAMPLE:
        raise err("unknown flag bits set")
    if reserved:
        raise err("reserved header bytes are not zero")
    if not 1 <= name_len <= MAX_NAME:
        raise err("name length out of range")
    rest = _read_full(fp, 4 * ndim + name_len + 4)
    if len(rest) < 4 * ndim + name_len + 4:
        raise err("truncated record header")
    header = bytes(h) + bytes(rest[:-4])
    if zlib.crc32(header) != struct.unpack("<I", rest[-4:])[0]:
        raise err("header checksum mismatch")
    dims = struct.unpack("<%dI" % ndim, rest[:4 * ndim])
    name = rest[4 * ndim:4 * ndim + name_len].decode("latin-1")
    if not _name_ok(name):
        raise err("invalid record name")
    if code == STR and ndim != 1:
        raise err("a string must have 1 dimension", name)
    nbytes = math.prod(dims) * (1 if code == STR else DTYPES[code].itemsize)
    if nbytes > MAX_RECORD_BYTES:
        raise err("larger than %d bytes" % MAX_RECORD_BYTES, name)
    data = _read_full(fp, nbytes)
    if len(data) < nbytes:
        raise err("truncated data (%d of %d bytes)" % (len(data), nbytes), name)
    crc = _read_full(fp, 4)
    if len(crc) < 4:
        raise err("truncated data checksum", name)
    if zlib.crc32(data) != struct.unpack("<I", crc)[0]:
        raise err("data checksum mismatch", name)
    if code == STR:
        if 0 in data:
            raise err("string holds a NUL byte", name)
        # strict, as lib/common/stream.c: the format's strings are UTF-8
        try:
            value = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise err("string is not valid UTF-8 (its byte %d)" % e.start, name) from None
        if name == "id" and _id_problem(data):
            raise err(_id_problem(data), name)
    else:
        value = np.frombuffer(data, DTYPES[code]).reshape(dims)
    return name, value, flags, len(header) + 4 + nbytes + 4


def read(f):
    """Yield each sample of the stream f (a path, "-", or a binary file) as a
    dict name -> numpy array or str, in stream order. Raises StreamError on
    a malformed, corrupt or truncated stream."""
    fp, path, owned = _open(f, "rb")
    try:
        nrec = nsample = offset = 0
        sample = {}
        while True:
            if len(sample) == MAX_RECORDS:
                raise StreamError("%s: record %d: sample %d has more than %d records (end-of-sample flag missing?)"
                                  % (path, nrec + 1, nsample + 1, MAX_RECORDS))
            rec = _read_record(fp, path, nrec + 1, offset)
            if rec is None:
                if sample:
                    raise StreamError("%s: stream ends inside sample %d (truncated?)" % (path, nsample + 1))
                return
            name, value, flags, size = rec
            nrec, offset = nrec + 1, offset + size
            if name in sample:
                raise StreamError("%s: record %d: sample %d has two records named '%s'" % (path, nrec, nsample + 1, name))
            sample[name] = value
            if flags & END_OF_SAMPLE:
                nsample += 1
                yield sample
                sample = {}
    finally:
        if owned:
            fp.close()


MAX_ID = 200


def _id_problem(data):
    """Why the bytes of an 'id' record are not a tile id (printable ASCII
    without space, '/', ',' or '"', 1 to 200 bytes), or None."""
    if not 1 <= len(data) <= MAX_ID:
        return "a tile id of %d bytes (1 to %d)" % (len(data), MAX_ID)
    for i, c in enumerate(data):
        if c <= 0x20 or c > 0x7e or c in b'/,"':
            return ("not a tile id: its byte %d is 0x%02x (printable ASCII only, no space, '/', ',' or '\"')" % (i, c))
    return None


def _encode_record(name, value, flags):
    """The bytes of one record."""
    if not isinstance(name, str) or not _name_ok(name):
        raise ValueError("invalid record name %r (1..255 printable ASCII, no space or comma)" % (name,))
    if isinstance(value, str):
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError as e:  # a lone surrogate, e.g. from os.fsdecode of a bad name
            raise ValueError("record '%s': string is not valid UTF-8 (a lone surrogate at character %d)"
                             % (name, e.start)) from None
        if b"\0" in data:
            raise ValueError("record '%s': a string cannot hold a NUL" % name)
        if name == "id" and _id_problem(data):
            raise ValueError("record 'id': " + _id_problem(data))
        code, dims = STR, (len(data),)
    else:
        a = np.asarray(value)
        if a.dtype == np.bool_:
            a = a.astype(np.uint8)
        code = CODES.get((a.dtype.kind, a.dtype.itemsize))
        if code is None:
            raise ValueError("record '%s': dtype %s is not one of u8 u16 i32 i64 f32 f64" % (name, a.dtype))
        if a.nbytes > MAX_RECORD_BYTES:
            raise ValueError("record '%s': more than %d bytes" % (name, MAX_RECORD_BYTES))
        data = np.ascontiguousarray(a, DTYPES[code]).tobytes()
        dims = a.shape
    if len(dims) > MAX_DIMS or any(d >= 1 << 32 for d in dims) or len(data) > MAX_RECORD_BYTES:
        raise ValueError("record '%s': shape %s is out of range (at most %d dims, %d bytes)"
                         % (name, dims, MAX_DIMS, MAX_RECORD_BYTES))
    header = FIXED.pack(MAGIC, VERSION, code, len(dims), flags, len(name), 0)
    header += struct.pack("<%dI" % len(dims), *dims) + name.encode("ascii")
    return b"".join([header, struct.pack("<I", zlib.crc32(header)), data, struct.pack("<I", zlib.crc32(data))])


def write(f, samples):
    """Write samples (dicts name -> numpy array/scalar or str) to f (a path,
    "-", or a binary file). Bool arrays are written as u8. A sample is checked
    whole before any of it is written. A path is written whole or not at
    all, as the tools write theirs: into a temporary file beside it, renamed
    into place once every sample is written, removed if any is refused (so a
    reader never sees half a stream, and an existing file is kept). Returns
    the number of samples."""
    if isinstance(f, (str, os.PathLike)) and f != "-" and not _is_special(f):
        d, base = os.path.split(os.fspath(f))
        fd, tmp = tempfile.mkstemp(prefix=base + ".tmp-", dir=d or ".")
        try:
            with os.fdopen(fd, "wb") as fp:
                n = write(fp, samples)
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, f)
            return n
        except BaseException:
            os.unlink(tmp)
            raise
    fp, _, owned = _open(f, "wb")
    try:
        n = 0
        for sample in samples:
            if not sample:
                raise ValueError("sample %d is empty" % (n + 1))
            if len(sample) > MAX_RECORDS:
                raise ValueError("sample %d has more than %d records" % (n + 1, MAX_RECORDS))
            last = len(sample) - 1
            fp.write(b"".join(_encode_record(k, v, END_OF_SAMPLE if i == last else 0)
                              for i, (k, v) in enumerate(sample.items())))
            n += 1
        return n
    finally:
        if owned:
            fp.close()


def _is_special(path):
    """An existing name that is not a regular file (/dev/null, a FIFO): written
    as is, since renaming over it would replace the device with a file."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return False


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


def _describe(value):
    if isinstance(value, str):
        return "str %r" % value
    dtype = NAMES[CODES[(value.dtype.kind, value.dtype.itemsize)]]
    if value.ndim == 0:
        return "%s = %g" % (dtype, value)
    text = "%s %s" % (dtype, "x".join(map(str, value.shape)))
    return text + (" [%g..%g]" % (value.min(), value.max()) if value.size else "")


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        sys.stderr.write("usage: python3 tgs_stream.py STREAM   (- for stdin)\n")
        return 2
    n = 0
    try:
        for n, sample in enumerate(read(argv[1]), 1):
            print("sample %d: %s" % (n, ", ".join("%s %s" % (k, _describe(v)) for k, v in sample.items())))
    except BrokenPipeError:  # piped into head: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, StreamError) as e:
        sys.stderr.write("tgs_stream: %s\n" % e)
        return 1
    print("%d samples" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
