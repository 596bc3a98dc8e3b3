"""A real S3 HTTP API on 127.0.0.1 (moto's server, the one s3fs's own tests use), started as a subprocess:
the object store of the tests (tests/conftest.py's ``s3_server``) and of the cluster demo.

    with s3_server() as server:
        os.environ.update(server.env)      # what every AWS tool reads: keys, endpoint, region
        ...                                # s3fs, boto3, the aws CLI, child processes: all reach it
        server.requests()                  # requests and bytes so far, by kind (PUT, GET, LIST, HEAD, ...)

``python data_samples/s3_server.py [--port N]`` runs it in the foreground (port 0: a free one); its first
line says ``port N``.

It is moto's own WSGI app (``moto.server``'s ``DomainDispatcherApplication``) under werkzeug's threaded
server, as ``moto_server`` runs it, with one addition: conditional writes (``If-Match`` /
``If-None-Match`` on PUT, POST, DELETE) are handled one at a time. moto checks the condition and then
writes, with no lock between, in a server that runs each request on its own thread: two
``If-None-Match: *`` PUTs of one key at once could both succeed (seen here: 2 of 260 rounds of 8 at once
had two winners). S3 guarantees one; the run lock (lusomix/store_lock.py) relies on it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import select
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

REGION = "us-east-1"
COUNTS_PATH = "/_lusomix/requests"  # GET: the counts as JSON; DELETE: start again from zero
START_TIMEOUT_S = 60.0  # moto imports a few seconds on a busy machine


_LISTING = ("list-type", "prefix", "delimiter", "marker", "continuation-token")


def request_kind(method: str, path: str, query: str) -> str:
    """The S3 request kind a store bills by: PUT, GET, LIST, HEAD, POST, DELETE. Path-style addressing
    (the bucket is the first part of the path), as every client uses for an endpoint on 127.0.0.1."""
    on_bucket = "/" not in path.strip("/")
    if method == "GET" and on_bucket and (not query or any(word in query for word in _LISTING)):
        return "LIST"  # a GET on a bucket (or the service) that lists, not one that reads its settings
    return method


class _Counting:
    """moto's app, with conditional writes serialised and every request counted."""

    def __init__(self, app) -> None:
        self.app = app
        self.conditional = threading.Lock()
        self.counts_lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def __call__(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if path == COUNTS_PATH:
            return self._counts(method, start_response)
        kind = request_kind(method, path, environ.get("QUERY_STRING", ""))
        conditional = method in ("PUT", "POST", "DELETE") and (
            "HTTP_IF_MATCH" in environ or "HTTP_IF_NONE_MATCH" in environ
        )
        if conditional:
            with self.conditional:  # the check and the write as one step, as S3 does
                body = b"".join(self.app(environ, start_response))
            chunks: list[bytes] = [body]
        else:
            chunks = list(self.app(environ, start_response))
        with self.counts_lock:
            self.counts[kind] += 1
            self.counts[f"{kind} bytes in"] += int(environ.get("CONTENT_LENGTH") or 0)
            self.counts[f"{kind} bytes out"] += sum(len(c) for c in chunks)
        return chunks

    def _counts(self, method, start_response):
        with self.counts_lock:
            body = json.dumps(dict(self.counts)).encode()
            if method == "DELETE":
                self.counts.clear()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def serve(port: int = 0) -> None:
    """Serve on 127.0.0.1:``port`` until killed; the first line printed is ``port N``."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    app = _Counting(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


@dataclass
class S3Server:
    """A running server: its endpoint, and the credentials that reach it (any keys do; these are unique per
    server, so a test can look for the secret key in what a run wrote)."""

    endpoint: str
    process: subprocess.Popen
    access_key: str = field(default_factory=lambda: "lusomix-test-" + secrets.token_hex(4))
    secret_key: str = field(default_factory=lambda: "lusomix-secret-" + secrets.token_hex(16))

    @property
    def env(self) -> dict[str, str]:
        """What every AWS tool reads (boto3, s3fs, the aws CLI; Ray workers started after it is set)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
        }

    def requests(self, reset: bool = False) -> dict[str, int]:
        """Requests by kind (``PUT``, ``GET``, ``LIST``, ``HEAD``, ``POST``, ``DELETE``) and their bytes
        (``"PUT bytes in"``, ``"GET bytes out"``, ...) since the start or the last reset."""
        request = urllib.request.Request(self.endpoint + COUNTS_PATH, method="DELETE" if reset else "GET")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(port: int = 0) -> S3Server:
    """Start the server as a subprocess and wait until it answers."""
    process = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # werkzeug logs a line per request
        text=True,
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_S)
    first = process.stdout.readline().split() if ready else []  # "port N" once bound; nothing if it died
    if len(first) != 2 or first[0] != "port":
        process.kill()
        raise RuntimeError(f"the S3 server did not start (exit {process.wait()}; is moto[server] installed?)")
    server = S3Server(f"http://127.0.0.1:{first[1]}", process)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            server.requests()
            return server
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                server.stop()
                raise RuntimeError(f"the S3 server at {server.endpoint} does not answer") from None
            time.sleep(0.1)


@contextmanager
def s3_server(port: int = 0) -> Iterator[S3Server]:
    server = start(port)
    try:
        yield server
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    serve(parser.parse_args().port)
