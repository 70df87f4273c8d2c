"""HTTP/2 over libssl (Python's ssl module, ALPN h2), one GET per connection.

Usage: h2_tls_client.py PORT CONNECTIONS PATH

Each connection sends the client preface, an empty SETTINGS and one GET of
PATH (HPACK literals with indexed names), reads until the response ends,
and is closed and freed before the next is made: libssl then most often
makes the next SSL object at the freed one's address. Prints "done".
"""

import gc
import socket
import ssl
import struct
import sys

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, SETTINGS = 0, 1, 4
END_STREAM, ACK, END_HEADERS = 1, 1, 4


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def literal(index, value):
    """A header field without indexing, its name from the static table."""
    v = value.encode()
    return bytes([index]) + bytes([len(v)]) + v


def get(ctx, port, path):
    raw = socket.create_connection(("127.0.0.1", port))
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    if s.selected_alpn_protocol() != "h2":
        raise SystemExit("no h2: %r" % s.selected_alpn_protocol())
    block = b"\x82\x87" + literal(4, path) + literal(1, "localhost")  # GET, https
    s.sendall(PREFACE + frame(SETTINGS, 0, 0) + frame(HEADERS, END_STREAM | END_HEADERS, 1, block))
    buf, ended = b"", False
    while not ended:
        data = s.recv(65536)
        if not data:
            raise SystemExit("connection closed before the response ended")
        buf += data
        while len(buf) >= 9:
            length = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + length:
                break
            kind, flags = buf[3], buf[4]
            stream = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
            if kind == SETTINGS and not flags & ACK:
                s.sendall(frame(SETTINGS, ACK, 0))
            if stream == 1 and kind in (DATA, HEADERS) and flags & END_STREAM:
                ended = True
            buf = buf[9 + length:]
    s.close()


def main():
    port, connections, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    for _ in range(connections):
        get(ctx, port, path)
        gc.collect()
    print("done")


main()
