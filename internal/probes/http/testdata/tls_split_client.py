# An HTTPS client for the probe's tests that writes each request head in
# three SSL_write calls (three TLS records: the server's SSL_read gets them
# one at a time), cut inside the request line and inside a field, over one
# connection to 127.0.0.1:port; reads each response, checks it is a 200 and
# prints "done". Arguments: port n.
import socket
import ssl
import sys

port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # the test's self-signed certificate
sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
responses = sock.makefile("rb")
head = b"GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: orb8-test\r\n\r\n"
for _ in range(n):
    for piece in (head[:10], head[10:24], head[24:]):
        sock.sendall(piece)
    status = responses.readline()
    length = 0
    while True:
        line = responses.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    responses.read(length)
    if not status.startswith(b"HTTP/1.1 200 "):
        sys.exit("status line %r, want a 200" % status)
print("done")
