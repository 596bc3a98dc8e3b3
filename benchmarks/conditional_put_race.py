"""Why the tests' S3 server is not plain ``moto_server``: conditional PUTs racing for one key.

Rounds of ``--contenders`` threads, released together, each PUT one new key with ``If-None-Match: *``: S3
lets exactly one create it. Run against ``moto_server`` as installed (it checks the condition, then
writes, on a thread per request) and against data_samples/s3_server.py (the same moto app, conditional
writes one at a time); prints, for each, the rounds whose number of winners was not 1.

    .venv/bin/python benchmarks/conditional_put_race.py [--rounds 260] [--contenders 8]

A race, so the count varies from run to run; here, two runs: moto_server 2 and 1 rounds in 260 with two
winners, s3_server.py 0 and 0.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "data_samples"))
from s3_server import S3Server, s3_server  # noqa: E402


def race(endpoint: str, rounds: int, contenders: int) -> list[int]:
    """The number of winners of each round that had not exactly one."""
    import boto3
    import botocore.config
    import botocore.exceptions

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="race",
        aws_secret_access_key="race-secret",
        region_name="us-east-1",
        config=botocore.config.Config(max_pool_connections=2 * contenders),
    )
    s3.create_bucket(Bucket="race")
    odd = []
    for number in range(rounds):
        start = threading.Barrier(contenders)

        def put(contender: int, key: str = f"key-{number}", start: threading.Barrier = start) -> int:
            start.wait()
            try:
                s3.put_object(Bucket="race", Key=key, Body=str(contender).encode() * 1000, IfNoneMatch="*")
                return 1
            except botocore.exceptions.ClientError:
                return 0

        with ThreadPoolExecutor(contenders) as pool:
            winners = sum(pool.map(put, range(contenders)))
        if winners != 1:
            odd.append(winners)
    return odd


def plain_moto_server() -> tuple[str, subprocess.Popen]:
    with socket.socket() as probe:  # a free port (moto_server cannot report one it picked itself)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    binary = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)], stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return endpoint, process
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=260)
    parser.add_argument("--contenders", type=int, default=8)
    args = parser.parse_args()
    os.environ.pop("AWS_PROFILE", None)

    endpoint, process = plain_moto_server()
    try:
        plain = race(endpoint, args.rounds, args.contenders)
    finally:
        process.terminate()
        process.wait()
    server: S3Server
    with s3_server() as server:
        serialised = race(server.endpoint, args.rounds, args.contenders)
    for name, odd in (("moto_server", plain), ("data_samples/s3_server.py", serialised)):
        print(f"{name:28s} rounds without exactly one winner: {len(odd)} of {args.rounds} (winners: {odd})")


if __name__ == "__main__":
    main()
