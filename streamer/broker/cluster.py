"""Several KRaft nodes on loopback ports forming one cluster, for replication and failover tests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from streamer.broker.local import LocalBroker, free_port, new_cluster_id

__all__ = ["LocalCluster"]


class LocalCluster:
    """``size`` combined broker+controller nodes sharing one static controller quorum."""

    def __init__(self, home: Path, size: int = 3, heap_mb: int = 512) -> None:
        ports = [(free_port(), free_port()) for _ in range(size)]
        voters = ",".join(f"{i + 1}@127.0.0.1:{cport}" for i, (_, cport) in enumerate(ports))
        cluster_id = new_cluster_id()
        self.nodes = [
            LocalBroker(
                Path(home) / f"node-{i + 1}",
                port=port,
                controller_port=cport,
                node_id=i + 1,
                voters=voters,
                cluster_id=cluster_id,
                cluster_size=size,
                heap_mb=heap_mb,
            )
            for i, (port, cport) in enumerate(ports)
        ]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def start(self, timeout_s: float = 180.0) -> None:
        for node in self.nodes:
            node.spawn()
        for node in self.nodes:
            node.wait_ready(timeout_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop every node at once: stopped one by one, the last ones lose their quorum and hang."""
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            list(pool.map(lambda node: node.stop(timeout_s), self.nodes))
