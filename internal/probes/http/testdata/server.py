# An HTTP/1.1 keep-alive server for the probe's tests: /ok answers 200,
# anything else 404, both with a Content-Length so that the connection stays
# open. The 404 body is written on its own and starts like a request line, so
# a probe that does not skip bodies miscounts it. Prints its port, then serves.
# With a certificate and key file as arguments it serves HTTPS (Python's ssl:
# libssl).
import http.server
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        path = self.path.split("?")[0]
        body = b"ok\n" if path == "/ok" else b"DELETE /nothing HTTP/1.1\r\n\r\n"
        self.send_response(200 if path == "/ok" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
if len(sys.argv) == 3:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
