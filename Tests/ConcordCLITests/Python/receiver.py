"""A local receiver for notification tests: every POST's path and JSON body
kept, GET /_received returns them. Prints its port as the first line.

  receiver.py [--fail N]    the first N POSTs answer 503 (a receiver that recovers)
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECEIVED = []
LOCK = threading.Lock()
FAIL = int(sys.argv[sys.argv.index("--fail") + 1]) if "--fail" in sys.argv else 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def reply(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        global FAIL
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        with LOCK:
            if FAIL > 0:
                FAIL -= 1
                return self.reply(503, b'{"error":"try later"}')
            try:
                RECEIVED.append({"path": self.path, "body": json.loads(raw)})
            except ValueError:
                return self.reply(400, b'{"error":"not JSON"}')
        self.reply(200, b"{}")

    def do_GET(self):
        with LOCK:
            self.reply(200, json.dumps(RECEIVED).encode())


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_port, flush=True)
server.serve_forever()
