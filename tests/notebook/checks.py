"""What the notebook tests share: one line per check ("ok: ..." or "FAILED: ..."), which tests/run
counts, and the size of a base64 PNG."""
import base64
import struct

failures = 0


def check(ok, what, detail=""):
    global failures
    if ok:
        print("ok: " + what)
    else:
        failures += 1
        print("FAILED: %s %s" % (what, str(detail)[:600]))


def png_size(b64):
    """(width, height) of a base64 PNG, or None if it is not one."""
    data = base64.b64decode(b64)
    return struct.unpack(">II", data[16:24]) if data[:8] == b"\x89PNG\r\n\x1a\n" else None
