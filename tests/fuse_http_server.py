"""A loopback HTTP server for download tests (127.0.0.1 only, a random free port).

serve(path, data, mode) publishes bytes at a path. Modes:
- "range": honours "Range: bytes=N-" with 206 and Content-Range, like Hugging Face and GitHub;
- "full": ignores Range and always answers 200 with the whole body;
- "truncated": announces the whole length, sends the first `cut` bytes and closes the connection.
redirect(path, to) answers 302 to another path, as Hugging Face and GitHub send downloads to a CDN.
Every request is recorded as (path, Range header or None). Tests import this module by name.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Served:
    data: bytes
    mode: str = "range"
    cut: int = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: closing it ends a truncated body

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        range_header = self.headers.get("Range")
        self.server.requests.append((self.path, range_header))
        if self.path in self.server.redirects:
            self.send_response(302)
            self.send_header("Location", self.server.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        served = self.server.files.get(self.path)
        if served is None:
            self.send_error(404)
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
        if served.mode == "range" and match:
            start = int(match.group(1))
            if start >= len(served.data):
                self.send_error(416)
                return
        body = served.data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(served.data) - 1}/{len(served.data)}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        self.wfile.write(body[: served.cut] if served.mode == "truncated" else body)
        self.wfile.flush()

    def log_message(self, format, *args) -> None:  # noqa: A002 - keep test output quiet
        pass


class LoopbackServer:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self.base = f"http://127.0.0.1:{server.server_address[1]}"

    @property
    def requests(self) -> list[tuple[str, str | None]]:
        return self._server.requests

    def serve(self, path: str, data: bytes, mode: str = "range", cut: int = 0) -> str:
        """Publish data at path; returns its URL."""
        self._server.files[path] = Served(data, mode, cut)
        return self.base + path

    def redirect(self, path: str, to: str) -> str:
        """Answer requests for path with a 302 to `to` (a path on this server); returns path's URL."""
        self._server.redirects[path] = self.base + to
        return self.base + path


@contextlib.contextmanager
def loopback_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.files, server.redirects, server.requests = {}, {}, []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield LoopbackServer(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port_url(path: str = "/gone.bin") -> str:
    """A loopback URL nobody listens on: connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
