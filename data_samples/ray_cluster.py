"""A multi-node Ray cluster on this machine, in a process of its own (Ray's ``ray.cluster_utils.Cluster``):
a head with no CPUs and worker nodes of one CPU each.

    python data_samples/ray_cluster.py [--worker-nodes 2]

prints ``address HOST:PORT`` once the nodes are up, then reads commands on stdin, one a line, and answers
``ok``: ``replace`` removes the oldest worker node at once (its raylet killed, as a spot instance goes) and adds
a new one; ``lose-all`` removes every worker node at once; ``add`` adds one; ``quit`` (or the end of stdin)
stops the cluster. Its own process, so that the process that starts
it (a test session) keeps no connection to it: Ray keeps global state per process, and a cluster created in a
process that later starts a Ray of its own leaves that state pointing at a dead cluster.
"""

from __future__ import annotations

import argparse
import sys

from ray.cluster_utils import Cluster


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker-nodes", type=int, default=2)
    args = parser.parse_args()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        nodes = [cluster.add_node(num_cpus=1) for _ in range(args.worker_nodes)]
        cluster.wait_for_nodes()
        print(f"address {cluster.address}", flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "replace":
                cluster.remove_node(nodes.pop(0), allow_graceful=False)
                nodes.append(cluster.add_node(num_cpus=1))
                print("ok", flush=True)
            elif command == "lose-all":
                while nodes:
                    cluster.remove_node(nodes.pop(0), allow_graceful=False)
                print("ok", flush=True)
            elif command == "add":
                nodes.append(cluster.add_node(num_cpus=1))
                cluster.wait_for_nodes()
                print("ok", flush=True)
            elif command == "quit":
                break
    finally:
        cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
