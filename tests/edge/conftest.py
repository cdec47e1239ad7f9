"""The edge under test: the Debian package's nginx in front of real ``imgstax serve`` processes.

One edge and two origins per test module; the origins share one data dir (the local-disk
second tier), exactly as ``make edge`` runs them. Each origin is a single process, so its
/metrics is the whole of what it did, and the tests sum them over the origins.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from nginx.render import EdgeConfig
from nginx.server import EdgeError, EdgeServer, find_nginx, local_worker_user, start_edge
from tests.origin.conftest import KEY_ALPHA, KEY_BETA, SIGNING, put_in_storage
from tests.support.moto import free_port
from tests.support.origin_process import OriginProcess, start_origin

NGINX = find_nginx()
requires_nginx = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (apt-get install nginx)"
)
PHOTO = "photo-medium-1024x768-camera.jpg"
ASSET_ROUTE = "/v1/assets/{assetId}"


def origin_environ(home: Path, data_dir: Path) -> dict[str, str]:
    return {
        "HOME": str(home),
        "IMGSTAX_API_KEYS": f"alpha:{KEY_ALPHA},beta:{KEY_BETA}",
        "IMGSTAX_SIGNING_KEYS": SIGNING,
        "IMGSTAX_DATA_DIR": str(data_dir),
        "IMGSTAX_RENDER_WORKERS": "2",
    }


def launch_edge(origins: Iterable[str], run_dir: Path) -> EdgeServer:
    """nginx on a free port in front of ``origins``, with X-Upstream on."""
    for _attempt in range(3):  # the port may be taken between free_port() and nginx's bind
        config = EdgeConfig(
            origins=tuple(origins),
            run_dir=run_dir,
            listen=f"127.0.0.1:{free_port()}",
            worker_processes="2",
            user=local_worker_user(),
            upstream_header=True,
        )
        try:
            return start_edge(config, binary=NGINX)
        except EdgeError:
            continue
    raise AssertionError(f"nginx did not start; see {run_dir}")


def metric_sum(texts: Iterable[str], name: str, **labels: str) -> float:
    """The sum of every sample called ``name`` whose labels include ``labels``."""
    total = 0.0
    for text in texts:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and labels.items() <= sample.labels.items():
                    total += sample.value
    return total


@dataclass
class EdgeSite:
    """nginx, the origins behind it, and their shared data dir."""

    edge: EdgeServer
    origins: list[OriginProcess]
    data_dir: Path
    environ: dict[str, str]
    log_dir: Path
    storage_key: str

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.edge.url, headers=headers, timeout=30)

    def origin_at(self, address: str) -> OriginProcess:
        return next(o for o in self.origins if o.address == address)

    def counter(self, name: str, **labels: str) -> float:
        """A counter summed over every running origin."""
        return metric_sum((o.metrics() for o in self.origins if o.running), name, **labels)

    def asset_gets(self) -> float:
        """GET /v1/assets/… requests the origins have answered, whatever the status."""
        return self.counter("imgstax_requests_total", route=ASSET_ROUTE, method="GET")

    def restart(self, origin: OriginProcess) -> OriginProcess:
        """Start ``origin`` again on its port (after a test stopped it)."""
        origin.stop()
        fresh = start_origin(self.environ, self.log_dir, port=origin.port)
        self.origins[self.origins.index(origin)] = fresh
        return fresh


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeSite]:
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx)")
    tmp = tmp_path_factory.mktemp("edge")
    data_dir = tmp / "data"
    storage_key = put_in_storage(data_dir, PHOTO)
    environ = origin_environ(tmp, data_dir)
    log_dir = tmp / "logs"
    origins: list[OriginProcess] = []
    edge: EdgeServer | None = None
    try:
        origins = [start_origin(environ, log_dir) for _ in range(2)]
        edge = launch_edge((o.address for o in origins), tmp / "edge")
        yield EdgeSite(edge, origins, data_dir, environ, log_dir, storage_key)
    finally:
        if edge is not None:
            edge.stop()
        for origin in origins:
            origin.stop()
