"""``make cluster-demo``: the demo config end to end on a cluster whose nodes share nothing but an object store.

It starts, on this machine: the S3 server of the tests (``s3_server.py``: moto's S3 API on 127.0.0.1) and a
three-node Ray cluster (Ray's own ``ray.cluster_utils.Cluster``: a head with no CPUs, so every task and every
Ray Train worker runs on one of the two worker nodes). Then, as a user would on a real cluster:

    lusomix run data_samples/demo.yaml --output s3://lusomix-demo/run --executor ray --ray-address HEAD
    lusomix inspect s3://lusomix-demo/run

and it copies the run's report out of the store (the store goes when the demo ends) to OUT/report/index.html.
Everything it started is stopped at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from s3_server import s3_server  # noqa: E402

BUCKET = "lusomix-demo"


def lusomix(*argv: str) -> int:
    """A lusomix command in its own process, its output shown as it comes."""
    return subprocess.call([sys.executable, "-m", "lusomix.pipeline.cli", *argv])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="out/cluster-demo", help="where the report is copied (default: %(default)s)")
    parser.add_argument("--worker-nodes", type=int, default=2, help="worker nodes of one CPU each (default: 2)")
    args = parser.parse_args()

    with s3_server() as server:
        os.environ.update(server.env)  # before the nodes start: their processes reach the store the same way
        import s3fs
        from ray.cluster_utils import Cluster

        print(f"cluster-demo: S3 server at {server.endpoint}", flush=True)
        s3fs.S3FileSystem().mkdir(f"s3://{BUCKET}")
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
        try:
            for _ in range(args.worker_nodes):
                cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            print(
                f"cluster-demo: Ray head at {cluster.address} (0 CPUs) + {args.worker_nodes} worker nodes", flush=True
            )
            run = f"s3://{BUCKET}/run"
            code = lusomix(
                "run", str(HERE / "demo.yaml"), "--output", run, "--executor", "ray", "--ray-address", cluster.address
            )
            if code != 0:
                return code
            lusomix("inspect", run)
            report = Path(args.out) / "report" / "index.html"
            report.parent.mkdir(parents=True, exist_ok=True)
            s3fs.S3FileSystem().get_file(f"{run}/report/index.html", str(report))
            print(f"cluster-demo: the report was written to {run}/report/index.html; a copy is at {report}")
            print(f"cluster-demo: requests to the store: {server.requests()}")
        finally:
            cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
