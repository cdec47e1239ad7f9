"""Everything the workloads run against, started together and stopped together.

- ``main``: ``imgstax serve`` with the disk tier, the server of W1-W8;
- ``disk_cold`` and ``s3_cold``: origins whose memory tier holds nothing (0 bytes), so that every
  GET of a stored render is a second-tier hit (W5b); ``s3_cold`` talks to a moto_server;
- ``bare``: the bare Starlette app of W5; ``thumbor`` when it can run.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import thumbor
from bench.plan import Plan
from bench.procs import (
    Server,
    free_port,
    launch,
    moto_command,
    python_command,
    stop_all,
    wait_ready,
)
from bench.report import Report
from bench.rounds import QuietGate
from bench.sources import FIXTURES, QUALITY_PHOTOS, ParamSpace, rgba_png_2048
from transforms import parse_spec, render

BUCKET = "imgstax-bench"
HIT_SOURCE = FIXTURES / "photo-progressive-1944x2592.jpg"
# W5's asset: 800 px Jpeg q80 of HIT_SOURCE, 48.6 KB.
HIT_SPEC: dict[str, Any] = {"width": 800, "format": {"type": "Jpeg", "quality": 80}}


@dataclass
class Origin:
    server: Server
    api_key: str
    http: httpx.Client

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        answer = self.http.post(path, json=body, headers=self.headers)
        if answer.status_code != 200:
            raise RuntimeError(
                f"POST {path} {json.dumps(body)}: {answer.status_code} {answer.text}"
            )
        result: dict[str, Any] = answer.json()
        return result

    def upload(self, data: bytes) -> str:
        answer = self.http.post("/v1/uploads", content=data, headers=self.headers)
        answer.raise_for_status()
        return str(answer.json()["uploadId"])

    def metrics(self) -> str:
        return self.http.get("/metrics").text


@dataclass
class Suite:
    plan: Plan
    report: Report
    workdir: Path
    main: Origin
    disk_cold: Origin
    s3_cold: Origin
    moto: Server
    bare: Server
    thumbor: Server | None
    thumbor_reason: str  # why thumbor is not running, when it is not
    photo: bytes
    pngs: list[bytes]
    quiet: QuietGate = field(default_factory=lambda: QuietGate(0.0))
    uploads: dict[str, str] = field(default_factory=dict)  # name -> uploadId on main
    # One space per (source, format) on main, shared by the workloads that render it, so that
    # no request repeats one made earlier in the run.
    spaces: dict[str, ParamSpace] = field(default_factory=dict)

    @property
    def thumbor_images(self) -> Path:
        return self.workdir / "thumbor-images"

    @property
    def disk_cold_store(self) -> Path:
        """The disk tier's root of ``disk_cold``."""
        return self.workdir / "dc" / "store"


def _origin_env(
    data_dir: Path, plan: Plan, api_key: str, extra: Mapping[str, str]
) -> dict[str, str]:
    return {
        "IMGSTAX_API_KEYS": f"bench:{api_key}",
        "IMGSTAX_SIGNING_KEYS": secrets.token_urlsafe(48),
        "IMGSTAX_DATA_DIR": str(data_dir),
        "IMGSTAX_RENDER_WORKERS": str(plan.workers),
        "IMGSTAX_RATE_LIMIT_PER_MINUTE": "1000000",
        # No AWS configuration of this machine leaks into the origins.
        "AWS_CONFIG_FILE": str(data_dir / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(data_dir / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        **extra,
    }


def _launch_origin(name: str, workdir: Path, env: Mapping[str, str]) -> Server:
    port = free_port()
    command = python_command("-m", "origin", "serve", "--host", "127.0.0.1", "--port", str(port))
    return launch(name, command, env, workdir, port=port)


def _prepare_thumbor_images(directory: Path, photo: bytes, pngs: list[bytes]) -> None:
    directory.mkdir()
    (directory / "photo.jpg").write_bytes(photo)
    for index, png in enumerate(pngs):
        (directory / f"rgba-{index}.png").write_bytes(png)
    for name in QUALITY_PHOTOS:
        shutil.copy(FIXTURES / name, directory / name)


def _make_bucket(endpoint: str) -> None:
    """The S3 bucket, readable without signing so W5b's direct read is a plain GET."""
    httpx.put(f"{endpoint}/{BUCKET}", timeout=10).raise_for_status()
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    httpx.put(f"{endpoint}/{BUCKET}?policy", content=policy, timeout=10).raise_for_status()


def _launch_bare(workdir: Path) -> Server:
    """The bare app of W5, serving the very bytes the origin will render for HIT_SPEC."""
    spec = parse_spec({"resize": {"width": HIT_SPEC["width"]}, "format": HIT_SPEC["format"]})
    body = workdir / "hit-body.jpg"
    body.write_bytes(render(HIT_SOURCE.read_bytes(), spec).data)
    port = free_port()
    command = python_command("-m", "bench.bare_app", "--port", str(port), "--body", str(body))
    # The bare app is bench's own module: it runs from this checkout, not the install.
    here = {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return launch("bare-starlette", command, here, workdir, port=port)


def _launch_thumbor(
    plan: Plan, workdir: Path, photo: bytes, pngs: list[bytes]
) -> tuple[Server | None, str]:
    """thumbor, or why it is not running."""
    if plan.smoke:
        return None, "skipped in the smoke"
    if not plan.thumbor:
        return None, "disabled with --no-thumbor"
    reason = thumbor.ensure_installed(workdir)
    if reason is not None:
        return None, reason
    images = workdir / "thumbor-images"
    _prepare_thumbor_images(images, photo, pngs)
    return thumbor.start(images, workdir, free_port(), plan.workers), ""


@contextmanager
def running_suite(
    plan: Plan, report: Report, workdir: Path, main_env: Mapping[str, str]
) -> Iterator[Suite]:
    """Start every server at once, upload the sources, and stop everything afterwards."""
    photo = plan.photo
    key = secrets.token_urlsafe(24)
    with ExitStack() as stack:
        servers: list[Server] = []
        stack.callback(stop_all, servers)

        def started(server: Server) -> Server:
            servers.append(server)
            return server

        moto_port = free_port()
        moto = started(launch("moto", moto_command(moto_port), {}, workdir, port=moto_port))
        moto.ready_path = "/"
        s3 = {
            "IMGSTAX_S3_BUCKET": BUCKET,
            "IMGSTAX_S3_ENDPOINT_URL": moto.url,
            "AWS_ACCESS_KEY_ID": "bench-access-key",
            "AWS_SECRET_ACCESS_KEY": "bench-secret-key",
        }
        cold = {"IMGSTAX_MEMORY_CACHE_BYTES": "0"}
        origins = [
            started(_launch_origin(name, workdir, _origin_env(workdir / data, plan, key, env)))
            for name, data, env in (
                ("origin", "main", main_env),
                ("origin-disk-cold", "dc", cold),
                ("origin-s3-cold", "sc", cold | s3),
            )
        ]
        bare = started(_launch_bare(workdir))
        pngs = [rgba_png_2048(v) for v in range(plan.png_variants)]  # while servers start
        thumbor_server, reason = _launch_thumbor(plan, workdir, photo, pngs)
        if thumbor_server is not None:
            started(thumbor_server)
        wait_ready(servers)
        _make_bucket(moto.url)
        main, disk_cold, s3_cold = (
            Origin(s, key, stack.enter_context(httpx.Client(base_url=s.url, timeout=60)))
            for s in origins
        )
        suite = Suite(
            plan,
            report,
            workdir,
            main,
            disk_cold,
            s3_cold,
            moto,
            bare,
            thumbor_server,
            reason,
            photo,
            pngs,
        )
        suite.quiet = QuietGate(plan.quiet_budget)
        suite.uploads["photo"] = main.upload(photo)
        for index, png in enumerate(pngs):
            suite.uploads[f"rgba-{index}"] = main.upload(png)
        yield suite
