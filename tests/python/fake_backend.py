"""A tiny OpenAI-compatible server that devassist starts as a `process` backend in tests and
in `bench/scale`: it takes a while to "load", can crash on request, and records when it
started listening so the benchmark can subtract the backend's own start time.

    fake_backend.py [--port N] [--delay S] [--stop-delay S] [--never-ready]
                    [--events FILE] [--tokens N] [--grandchildren N] [--escape]
                    [--ignore-term]

`--port 0` (the default) binds any free port; the ready line
`fake-backend listening on http://127.0.0.1:PORT` says which. `--events` gets one line per
event: `start PID TIME`, `ready PID PORT TIME`, `stop PID TIME`, `child PID TIME` (TIME = Unix
seconds).

`--grandchildren N` starts N processes that sleep (as a model server's workers would), `--escape`
one more in a session of its own (out of the process group), and `--ignore-term` ignores
SIGTERM: backends that a gateway must still stop completely.

Requested model names pick behaviours: `crash` streams three tokens then dies, `crash-now`
dies on receiving the request, `slow-MS` waits MS milliseconds before the first token.
"""

import argparse
import http.server
import json
import os
import signal
import socketserver
import subprocess
import sys
import threading
import time


def log_event(path, *fields):
    if path:
        with open(path, "a") as f:
            f.write(" ".join(str(x) for x in fields) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    tokens = 4

    def log_message(self, *args):
        pass

    def _json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path in ("/health", "/v1/models", "/api/version"):
            self._json(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        model = str(body.get("model", ""))
        chat = self.path.endswith("/chat/completions")
        if not chat and not self.path.endswith("/completions"):
            return self._json(404, {"error": {"message": "not found"}})
        if model == "crash-now":
            os._exit(1)
        if model.startswith("slow-"):
            time.sleep(int(model.split("-", 1)[1]) / 1000)
        words = [f"tok{i} " for i in range(self.tokens)]

        def chunk(text, finish=None):
            choice = {"index": 0, "finish_reason": finish}
            if chat:
                choice["delta"] = {"content": text} if text else {}
            else:
                choice["text"] = text
            return {"id": "fake-1", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [choice]}

        if not body.get("stream"):
            text = "".join(words)
            choice = {"index": 0, "finish_reason": "stop"}
            if chat:
                choice["message"] = {"role": "assistant", "content": text}
            else:
                choice["text"] = text
            usage = {"prompt_tokens": 1, "completion_tokens": len(words), "total_tokens": 1 + len(words)}
            return self._json(200, {"id": "fake-1", "object": "chat.completion", "created": 0,
                                    "model": model, "choices": [choice], "usage": usage})
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        for i, w in enumerate(words):
            self.wfile.write(f"data: {json.dumps(chunk(w))}\n\n".encode())
            self.wfile.flush()
            if model == "crash" and i == 2:
                time.sleep(0.05)
                sys.stderr.write("fake-backend: simulated crash\n")
                sys.stderr.flush()
                os._exit(7)
        self.wfile.write(f"data: {json.dumps(chunk('', 'stop'))}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()
        self.close_connection = True


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 256


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--stop-delay", type=float, default=0.0)
    p.add_argument("--never-ready", action="store_true")
    p.add_argument("--events")
    p.add_argument("--tokens", type=int, default=4)
    p.add_argument("--grandchildren", type=int, default=0)
    p.add_argument("--escape", action="store_true")
    p.add_argument("--ignore-term", action="store_true")
    a = p.parse_args()
    Handler.tokens = a.tokens
    pid = os.getpid()
    log_event(a.events, "start", pid, f"{time.time():.6f}")

    def on_term(signum, frame):
        log_event(a.events, "stop", pid, f"{time.time():.6f}")
        time.sleep(a.stop_delay)
        os._exit(0)

    signal.signal(signal.SIGTERM, signal.SIG_IGN if a.ignore_term else on_term)
    sleeper = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(3600)"]
    for i in range(a.grandchildren + (1 if a.escape else 0)):
        escape = a.escape and i == a.grandchildren
        child = subprocess.Popen(sleeper, start_new_session=escape)
        log_event(a.events, "child", child.pid, f"{time.time():.6f}")
    print(f"fake-backend {pid} loading", file=sys.stderr, flush=True)
    if a.never_ready:
        while True:
            time.sleep(3600)
    time.sleep(a.delay)
    server = Server(("127.0.0.1", a.port), Handler)
    port = server.server_address[1]
    log_event(a.events, "ready", pid, port, f"{time.time():.6f}")
    print(f"fake-backend listening on http://127.0.0.1:{port}", flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
