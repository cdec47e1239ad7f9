"""Render ``edge.conf.template`` for given origins and paths (``python -m nginx.render``).

The template's parameters are ``{{name}}`` (nginx's own ``$variables`` stay untouched). Every
value is checked before it is written, because a stray ``;``, brace, quote or ``$`` in a path
would change what nginx reads. Paths are made absolute: nginx would otherwise resolve them
against its prefix, not the directory the operator had in mind.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

TEMPLATE = Path(__file__).with_name("edge.conf.template")
CONFIG_NAME = "edge.conf"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_ORIGIN = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}$")
_LISTEN = re.compile(r"^(?:(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):)?\d{1,5}$")
_SIZE = re.compile(r"^\d+[kKmMgG]?$")
_TIME = re.compile(r"^\d+[smhd]$")
_WORKERS = re.compile(r"^(?:auto|[1-9]\d*)$")
_NAME = re.compile(r"^[a-z_][a-z0-9_-]*$")
_LEVELS = ("debug", "info", "notice", "warn", "error", "crit")
_PATH_FORBIDDEN = re.compile(r"[\s;{}'\"$\\#]")


@dataclass(frozen=True)
class EdgeConfig:
    """Everything that differs between one edge and another."""

    origins: tuple[str, ...]
    run_dir: Path
    cache_dir: Path | None = None  # default: <run_dir>/cache
    listen: str = "127.0.0.1:8080"
    worker_processes: str = "auto"
    cache_max_size: str = "10g"
    keys_zone_size: str = "32m"
    cache_inactive: str = "7d"
    error_log_level: str = "warn"
    # Only an nginx started as root reads `user`; it then runs its workers as that user.
    user: str | None = None
    # X-Upstream: which origin answered. Handy locally and in tests; it shows internal
    # addresses, so it is off unless asked for.
    upstream_header: bool = False

    @property
    def resolved_cache_dir(self) -> Path:
        return (self.cache_dir or self.run_dir / "cache").absolute()


def _check(ok: bool, what: str, value: object) -> None:
    if not ok:
        raise ValueError(f"invalid {what}: {value!r}")


def _path(what: str, path: Path) -> str:
    text = str(path.absolute())
    _check(not _PATH_FORBIDDEN.search(text), what, text)
    return text


def parameters(config: EdgeConfig) -> dict[str, str]:
    """The template's parameters for ``config``, every value checked."""
    _check(bool(config.origins), "origins (at least one)", config.origins)
    for origin in config.origins:
        _check(bool(_ORIGIN.match(origin)), "origin host:port", origin)
    _check(len(set(config.origins)) == len(config.origins), "origins (duplicate)", config.origins)
    _check(bool(_LISTEN.match(config.listen)), "listen address", config.listen)
    _check(
        bool(_WORKERS.match(config.worker_processes)), "worker_processes", config.worker_processes
    )
    _check(bool(_SIZE.match(config.cache_max_size)), "cache_max_size", config.cache_max_size)
    _check(bool(_SIZE.match(config.keys_zone_size)), "keys_zone_size", config.keys_zone_size)
    _check(bool(_TIME.match(config.cache_inactive)), "cache_inactive", config.cache_inactive)
    _check(config.error_log_level in _LEVELS, "error_log_level", config.error_log_level)
    if config.user is not None:
        _check(bool(_NAME.match(config.user)), "user", config.user)
    servers = "\n".join(f"        server {origin};" for origin in config.origins)
    upstream = "add_header X-Upstream $upstream_addr always;" if config.upstream_header else ""
    return {
        "listen": config.listen,
        "worker_processes": config.worker_processes,
        "user_directive": f"user {config.user};" if config.user else "",
        "run_dir": _path("run_dir", config.run_dir),
        "cache_dir": _path("cache_dir", config.resolved_cache_dir),
        "cache_max_size": config.cache_max_size,
        "keys_zone_size": config.keys_zone_size,
        "cache_inactive": config.cache_inactive,
        "error_log_level": config.error_log_level,
        "asset_servers": servers,
        "api_servers": servers,
        "upstream_header": upstream,
    }


def render(config: EdgeConfig, template: str | None = None) -> str:
    """The nginx config text for ``config``."""
    text = TEMPLATE.read_text() if template is None else template
    values = parameters(config)
    used = set(_PLACEHOLDER.findall(text))
    missing = used - values.keys()
    if missing:
        raise ValueError(f"template parameters without a value: {sorted(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def write(config: EdgeConfig) -> Path:
    """Render into ``<run_dir>/edge.conf``, creating the run and cache dirs; the file's path."""
    run_dir = config.run_dir.absolute()
    run_dir.mkdir(parents=True, exist_ok=True)
    config.resolved_cache_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / CONFIG_NAME
    path.write_text(render(config))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nginx.render", description="Render the imgstax edge's nginx config."
    )
    parser.add_argument(
        "--origin", action="append", required=True, help="host:port of an origin (repeat)"
    )
    parser.add_argument("--run-dir", type=Path, required=True, help="pid, logs, temp files")
    parser.add_argument("--cache-dir", type=Path, help="default: <run dir>/cache")
    parser.add_argument("--listen", default="127.0.0.1:8080", help="[host:]port")
    parser.add_argument("--workers", default="auto", help="nginx worker_processes")
    parser.add_argument("--cache-max-size", default="10g")
    parser.add_argument("--user", help="worker user, read only when nginx starts as root")
    parser.add_argument("--upstream-header", action="store_true", help="add X-Upstream")
    parser.add_argument("--output", type=Path, help="default: standard output")
    args = parser.parse_args(argv)
    config = EdgeConfig(
        origins=tuple(args.origin),
        run_dir=args.run_dir,
        cache_dir=args.cache_dir,
        listen=args.listen,
        worker_processes=args.workers,
        cache_max_size=args.cache_max_size,
        user=args.user,
        upstream_header=args.upstream_header,
    )
    try:
        text = render(config)
    except ValueError as exc:
        print(f"nginx.render: {exc}", file=sys.stderr)
        return 2
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
