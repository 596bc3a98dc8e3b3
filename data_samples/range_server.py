"""A folder served over HTTP on 127.0.0.1 with Range support (one range per request), recording what it
sent: the remote archive of tests/test_index.py and benchmarks/index_reading.py.

    with range_server(folder) as (url, served):
        ...  # url: "http://127.0.0.1:PORT"; served: (file name, first byte, bytes sent) per request
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the index-driven reader requests 32 ranges at once (the default backlog is 5)


class _RangeHandler(SimpleHTTPRequestHandler):
    served: list[tuple[str, int, int]]

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        size = path.stat().st_size
        start, end, spec = 0, size - 1, self.headers.get("Range")
        if spec:
            first, _, last = spec.removeprefix("bytes=").partition("-")
            start, end = int(first), min(int(last) if last else size - 1, size - 1)
        with open(path, "rb") as f:
            f.seek(start)
            body = f.read(end + 1 - start)
        self.send_response(206 if spec else 200)
        if spec:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client had read enough
            return
        self.served.append((path.name, start, len(body)))


@contextmanager
def range_server(folder: Path) -> Iterator[tuple[str, list[tuple[str, int, int]]]]:
    served: list[tuple[str, int, int]] = []
    handler = type("Handler", (_RangeHandler,), {"served": served})
    server = _Server(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()
