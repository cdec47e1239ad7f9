"""Rendering the edge config: every parameter checked, nothing outside the run dir, nginx -t."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from nginx.render import EdgeConfig, main, parameters, render, write
from nginx.server import EdgeError, check_config, local_worker_user, start_edge
from tests.edge.conftest import NGINX, launch_edge, requires_nginx
from tests.support.moto import free_port

ORIGINS = ("127.0.0.1:8081", "127.0.0.1:8082")


def directives(text: str, name: str) -> list[str]:
    """The arguments of every ``name`` directive in the config, comments left out."""
    found = []
    for line in text.splitlines():
        code = line.split("#", 1)[0].strip()
        if code.startswith(name + " ") and not code.endswith("{"):  # blocks are not directives
            found.append(code[len(name) :].strip().rstrip(";"))
    return found


def test_every_parameter_is_filled(tmp_path: Path) -> None:
    text = render(EdgeConfig(origins=ORIGINS, run_dir=tmp_path))
    assert "{{" not in text and "}}" not in text
    assert directives(text, "server") == [f"{o}" for o in ORIGINS] * 2
    assert directives(text, "listen") == ["127.0.0.1:8080"]
    assert "X-Upstream" not in text  # internal addresses only when asked for
    assert directives(text, "user") == []


def test_every_file_nginx_writes_is_under_the_run_dir_or_the_cache_dir(tmp_path: Path) -> None:
    run_dir, cache_dir = tmp_path / "run", tmp_path / "elsewhere" / "cache"
    text = render(EdgeConfig(origins=ORIGINS, run_dir=run_dir, cache_dir=cache_dir))
    code = "\n".join(
        line.split("#", 1)[0]
        for line in text.splitlines()
        if not line.strip().startswith("location")  # URL paths, not files
    )
    paths = re.findall(r"(?<![\w:/])/[\w./-]+", code)
    assert paths, "the rendered config names no path at all"
    outside = [p for p in paths if not p.startswith((str(run_dir), str(cache_dir)))]
    assert outside == []
    assert directives(text, "pid") == [f"{run_dir}/nginx.pid"]
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        assert directives(text, f"{temp}_temp_path") == [f"{run_dir}/{temp}_temp"]


def test_the_cache_rules_that_keep_assets_correct(tmp_path: Path) -> None:
    text = render(EdgeConfig(origins=ORIGINS, run_dir=tmp_path))
    # The key is the path: no API key, no query string.
    assert directives(text, "proxy_cache_key") == ["$uri"]
    # Nothing is cached on nginx's own say-so, and nothing stale is ever served.
    assert directives(text, "proxy_cache_valid") == []
    assert directives(text, "proxy_cache_use_stale") == ["off"]
    assert directives(text, "proxy_cache_background_update") == []
    # A request with a key neither reads nor fills the cache.
    assert directives(text, "proxy_cache_bypass") == ["$http_x_api_key"]
    assert directives(text, "proxy_no_cache") == ["$http_x_api_key"]
    assert directives(text, "proxy_cache_lock") == ["on"]
    assert directives(text, "hash") == ["$uri consistent"]
    # POSTs keep nginx's default: never resent once an origin got them.
    assert not any("non_idempotent" in d for d in directives(text, "proxy_next_upstream"))
    assert directives(text, "client_max_body_size") == ["51m"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("origins", ()),
        ("origins", ("127.0.0.1:8081; include /etc/passwd",)),
        ("origins", ("127.0.0.1",)),
        ("origins", ("127.0.0.1:8081", "127.0.0.1:8081")),
        ("listen", "8080 default_server; include x"),
        ("run_dir", Path("/tmp/with space")),
        ("run_dir", Path("/tmp/$uri")),
        ("cache_dir", Path("/tmp/a;b")),
        ("worker_processes", "0"),
        ("cache_max_size", "10 g"),
        ("cache_inactive", "7"),
        ("error_log_level", "loud"),
        ("user", "root; daemon on"),
    ],
    ids=lambda v: repr(v)[:40],
)
def test_a_value_that_would_change_what_nginx_reads_is_refused(
    tmp_path: Path, field: str, value: object
) -> None:
    base = {"origins": ORIGINS, "run_dir": tmp_path}
    config = EdgeConfig(**{**base, field: value})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="invalid"):
        parameters(config)


def test_the_command_line_renders_to_a_file(tmp_path: Path) -> None:
    output = tmp_path / "edge.conf"
    code = main(["--origin", ORIGINS[0], "--run-dir", str(tmp_path), "--output", str(output)])
    assert code == 0
    assert directives(output.read_text(), "server") == [ORIGINS[0]] * 2
    assert main(["--origin", "nope", "--run-dir", str(tmp_path)]) == 2


@requires_nginx
@pytest.mark.parametrize("origins", [1, 3])
@pytest.mark.parametrize("upstream_header", [False, True])
def test_nginx_accepts_the_rendered_config(
    tmp_path: Path, origins: int, upstream_header: bool
) -> None:
    assert NGINX is not None
    config = EdgeConfig(
        origins=tuple(f"127.0.0.1:{9000 + i}" for i in range(origins)),
        run_dir=tmp_path / "run",
        user=local_worker_user(),
        upstream_header=upstream_header,
    )
    check_config(NGINX, write(config))


@requires_nginx
def test_with_no_origin_answering_the_edge_says_so_in_the_api_shape(tmp_path: Path) -> None:
    edge = launch_edge([f"127.0.0.1:{free_port()}"], tmp_path / "run")
    try:
        with httpx.Client(base_url=edge.url, timeout=10) as http:
            for answer in (http.get("/v1/assets/anything"), http.post("/v1/resize", json={})):
                assert answer.status_code == 503
                assert answer.json()["code"] == "OVERLOADED"
                assert answer.headers["retry-after"] == "5"
                assert answer.headers["cache-control"] == "no-store"
    finally:
        edge.stop()
    assert not edge.running


@requires_nginx
def test_a_config_nginx_refuses_is_reported_in_nginx_own_words(tmp_path: Path) -> None:
    config = EdgeConfig(origins=ORIGINS, run_dir=tmp_path / "run", keys_zone_size="1")
    with pytest.raises(EdgeError, match="imgstax_assets"):
        start_edge(config, binary=NGINX)
