"""A run on a cluster that shares only an object store, against the same run on one machine's disk.

Reference: ``lusomix run`` with the local executor writing to a local folder, as a laptop user runs it.
Candidate: the same command with ``--executor ray --ray-address HEAD --output s3://…`` on a three-node Ray
cluster of this machine (``ray.cluster_utils.Cluster``: a head with 0 CPUs, two worker nodes of one CPU each,
so both setups have 2 CPUs for tasks) writing to the S3 server of the tests (moto on 127.0.0.1, which counts
requests by kind). Each pass is its own ``lusomix run --passes P`` process, timed whole; the store's
requests and bytes are read between passes.

Inputs: real page shells with Portuguese text (benchmarks/real_pages.py, needs ../shared; ``--copies``
copies of its 181 pages in ``--files`` WARCs) with the demo config (its mixes and tiny pretraining), its
mixes' shards at ``--shard-bytes`` (default: a recipe's default, 128 MiB, as a user's mix; the demo's own
40 kB shards, which show sharding on small samples, make the mix pass one PUT per ~40 documents).

    .venv/bin/python benchmarks/cluster_storage.py [--copies 6] [--files 4] [--passes extract,dedup,mix,report]
        [--shard-bytes 40000]

Prints per pass: wall time of each setup and their ratio; PUT, GET, LIST, HEAD per 1,000 documents and MB
written and read; and the extract pass's requests per task (per archive file), from which the closing note
works out the requests at Arquivo.pt's size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO / "data_samples")]

import real_pages  # noqa: E402
import yaml  # noqa: E402
from s3_server import s3_server  # noqa: E402

from lusomix.mix.build import DEFAULT_SHARD_BYTES  # noqa: E402

DEMO = REPO / "data_samples" / "demo.yaml"
KINDS = ("PUT", "GET", "LIST", "HEAD", "DELETE")


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "lusomix.pipeline.cli", *argv], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--passes", default="extract,dedup,mix,pretrain,report")
    parser.add_argument("--shard-bytes", type=int, default=DEFAULT_SHARD_BYTES, help="the mixes' shard size")
    args = parser.parse_args()
    if not real_pages.available():
        raise SystemExit("needs ../shared/data (the real page shells): not found")
    passes = args.passes.split(",")
    with tempfile.TemporaryDirectory() as tmp, s3_server() as server:
        inputs = Path(tmp) / "in"
        captures = real_pages.build_real_corpus(inputs, copies=args.copies, files=args.files)
        config = yaml.safe_load(DEMO.read_text())
        for recipe in config["mixes"]:
            recipe["shard_target_bytes"] = args.shard_bytes
        config["pretrain"]["config"] = str(DEMO.parent / config["pretrain"]["config"])
        run_config = Path(tmp) / "run.yaml"
        run_config.write_text(yaml.safe_dump(config, sort_keys=False))
        common = ["--input", str(inputs)]
        local = {
            p: timed(["run", str(run_config), *common, "--output", f"{tmp}/local", "--workers", "2", "--passes", p])
            for p in passes
        }
        os.environ.update(server.env)
        import s3fs
        from ray.cluster_utils import Cluster

        s3fs.S3FileSystem().mkdir("s3://bench")
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        remote: dict[str, float] = {}
        requests: dict[str, dict] = {}
        try:
            server.requests(reset=True)
            for p in passes:
                remote[p] = timed(
                    [
                        "run",
                        str(run_config),
                        *common,
                        "--output",
                        "s3://bench/run",
                        "--executor",
                        "ray",
                        "--ray-address",
                        cluster.address,
                        "--workers",
                        "2",
                        "--passes",
                        p,
                    ]
                )
                requests[p] = server.requests(reset=True)
        finally:
            cluster.shutdown()
        docs = json.loads(Path(f"{tmp}/local/stats.json").read_text())["kept"]
    print(
        f"{captures:,} captures in {args.files} WARCs, {docs:,} documents kept; 2 CPUs in each setup; "
        f"mix shards of {args.shard_bytes:,} bytes at most"
    )
    print(
        f"{'pass':10} {'local s':>8} {'cluster s':>9} {'ratio':>6} "
        + " ".join(f"{k + '/1k':>9}" for k in KINDS)
        + f" {'MB up':>7} {'MB down':>7}"
    )
    for p in passes:
        r = requests[p]
        per_k = " ".join(f"{1000 * r.get(k, 0) / docs:9.1f}" for k in KINDS)
        print(
            f"{p:10} {local[p]:8.1f} {remote[p]:9.1f} {remote[p] / local[p]:6.2f} {per_k} "
            f"{r.get('PUT bytes in', 0) / 1e6:7.2f} {r.get('GET bytes out', 0) / 1e6:7.2f}"
        )
    total_local, total_remote = sum(local.values()), sum(remote.values())
    print(f"{'all':10} {total_local:8.1f} {total_remote:9.1f} {total_remote / total_local:6.2f}")
    # requests grow with tasks (one per archive), docs/ parts and shards, not with documents as such
    print(
        f"per extract task (one archive of {captures // args.files:,} captures): "
        + ", ".join(f"{k} {requests['extract'].get(k, 0) / args.files:.1f}" for k in KINDS)
        if "extract" in requests
        else ""
    )


if __name__ == "__main__":
    main()
