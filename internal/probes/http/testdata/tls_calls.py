# SSL_write and SSL_read in a loop, in memory (Python's ssl.SSLObject over
# MemoryBIOs: libssl with no socket), for the cost of the probe's uprobes per
# call. Arguments: n, payload ("head": a request head, else 64 bytes that are
# none), certificate and key files. Prints "ready" once libssl is loaded and
# waits for a line on stdin, then prints the nanoseconds per call (each
# iteration is one SSL_write_ex and one SSL_read_ex), the best of 5 rounds.
import ssl
import sys
import time

n, kind = int(sys.argv[1]), sys.argv[2]
cert, key = sys.argv[3], sys.argv[4]
server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
server_ctx.load_cert_chain(cert, key)
client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
client_ctx.check_hostname = False
client_ctx.verify_mode = ssl.CERT_NONE
c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
client = client_ctx.wrap_bio(c_in, c_out)
server = server_ctx.wrap_bio(s_in, s_out, server_side=True)


def pump():
    s_in.write(c_out.read())
    c_in.write(s_out.read())


for _ in range(10):
    for side in (client, server):
        try:
            side.do_handshake()
        except ssl.SSLWantReadError:
            pass
    pump()
print("ready", flush=True)
sys.stdin.readline()
payload = b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n" if kind == "head" else b"x" * 64
best = None
for _ in range(5):
    begin = time.perf_counter_ns()
    for _ in range(n):
        client.write(payload)
        s_in.write(c_out.read())
        server.read(1024)
    ns = (time.perf_counter_ns() - begin) / (2 * n)
    best = ns if best is None else min(best, ns)
print(int(best))
