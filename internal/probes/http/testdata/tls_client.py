# An HTTPS keep-alive client for the probe's tests (Python's ssl: libssl):
# sends ok GET /ok and missing GET /missing requests, every third one to the
# missing path while any are left, over one connection to 127.0.0.1:port,
# checks each status and prints "done". Arguments: port ok missing.
import http.client
import ssl
import sys

port, ok, missing = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # the test's self-signed certificate
conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx)
connects = 0
i = 0
while ok + missing > 0:
    if missing > 0 and (i % 3 == 2 or ok == 0):
        path, want = "/missing", 404
        missing -= 1
    else:
        path, want = "/ok", 200
        ok -= 1
    if conn.sock is None:
        connects += 1
    conn.request("GET", path + "?token=secret")
    resp = conn.getresponse()
    resp.read()
    if resp.status != want:
        sys.exit("GET %s: status %d, want %d" % (path, resp.status, want))
    i += 1
if connects != 1:
    sys.exit("%d connections, want 1 (keep-alive)" % connects)
print("done")
