"""Typed settings, read from an injected environment mapping.

Every ``IMGSTAX_*`` variable has a default, a description and a group (see ``describe()``).
``load_settings(environ)`` validates all of them and raises one ``ConfigError`` that names every
bad variable, so an operator fixes a deployment in one pass. Nothing here reads ``os.environ``:
the caller passes the mapping, and tests pass a dict.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from config.errors import ConfigError

PREFIX = "IMGSTAX_"
T = TypeVar("T")

_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HOST_PATTERN = re.compile(
    r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$"
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class ApiKey:
    """One caller key: the id names it in tokens, logs and metrics; the secret never leaves."""

    key_id: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class ServerSettings:
    public_base_url: str | None = None
    log_level: str = "INFO"


@dataclass(frozen=True)
class AuthSettings:
    api_keys: tuple[ApiKey, ...] = ()
    api_keys_file: Path | None = None
    # Newest first: sign with the first, verify with all.
    signing_keys: tuple[str, ...] = field(default=(), repr=False)
    rate_limit_per_minute: int = 600


@dataclass(frozen=True)
class StorageSettings:
    data_dir: Path = Path("var")
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    memory_cache_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True)
class SourceSettings:
    max_source_bytes: int = 52_428_800
    max_source_pixels: int = 100_000_000
    allow_private_sources: bool = False
    source_allowlist: tuple[str, ...] = ()
    connect_timeout: float = 3.0
    total_timeout: float = 10.0
    max_redirects: int = 5


# Waiting renders per worker. At 80 % of capacity, 2 per worker refused 5-6 % of requests
# (bursts of arrivals fill a short queue); 4 per worker refused 0-1 %, and at 3x capacity the
# accepted requests' p99 stayed 1.25-1.39 x its 80 % value (bench W6; docs/DECISIONS.md).
QUEUE_PER_WORKER = 4

# Seconds of libvips work one render (or upload check) may take before it is stopped with 503.
# The heaviest legitimate renders measured took ~19 s (an 8192 px Avif at Quality).
DEFAULT_RENDER_TIMEOUT = 30.0


@dataclass(frozen=True)
class RenderSettings:
    workers: int = 2
    queue: int = QUEUE_PER_WORKER * 2
    timeout: float | None = DEFAULT_RENDER_TIMEOUT


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = ServerSettings()
    auth: AuthSettings = AuthSettings()
    storage: StorageSettings = StorageSettings()
    sources: SourceSettings = SourceSettings()
    render: RenderSettings = RenderSettings()


@dataclass(frozen=True)
class SettingInfo:
    name: str
    group: str
    default: str
    description: str


class _Reader:
    """Reads variables one by one, collecting every problem instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []
        self.catalogue: list[SettingInfo] = []

    def get(
        self,
        name: str,
        parse: Callable[[str], T],
        default: T,
        *,
        group: str,
        description: str,
        secret: bool = False,
    ) -> T:
        shown = "(generated)" if secret else _show(default)
        self.catalogue.append(SettingInfo(PREFIX + name, group, shown, description))
        raw = self.environ.get(PREFIX + name)
        if raw is None or not raw.strip():
            return default
        try:
            return parse(raw.strip())
        except ValueError as exc:
            value = "<secret>" if secret else repr(raw)
            self.problems.append(f"{PREFIX}{name}={value}: {exc}")
            return default


def _show(value: object) -> str:
    if value is None or value == ():
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def integer(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.replace("_", ""))
        except ValueError:
            raise ValueError("must be a whole number") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def seconds_or_off(low: float, high: float) -> Callable[[str], float | None]:
    def parse(raw: str) -> float | None:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("must be a number of seconds") from None
        if value == 0:
            return None
        if not low <= value <= high:
            raise ValueError(f"must be 0 (no limit) or between {low:g} and {high:g}")
        return value

    return parse


def boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def api_keys(raw: str) -> tuple[ApiKey, ...]:
    keys: list[ApiKey] = []
    for item in (part.strip() for part in raw.split(",")):
        key_id, sep, secret = item.partition(":")
        if not sep or not _KEY_ID.match(key_id):
            raise ValueError("each entry must be id:key with an id of letters, digits, _ . -")
        if len(secret) < 16:
            raise ValueError(f"the key for {key_id!r} must be at least 16 characters")
        if any(k.key_id == key_id for k in keys):
            raise ValueError(f"the id {key_id!r} appears twice")
        keys.append(ApiKey(key_id, secret))
    return tuple(keys)


def signing_keys(raw: str) -> tuple[str, ...]:
    keys = tuple(part.strip() for part in raw.split(","))
    if any(len(k) < 32 for k in keys):
        raise ValueError("every signing key must be at least 32 characters")
    return keys


def base_url(raw: str) -> str:
    if not re.match(r"^https?://[^/\s]+(/[^\s]*)?$", raw):
        raise ValueError("must be an absolute http(s) URL such as https://img.example.com")
    return raw.rstrip("/")


def endpoint_url(raw: str) -> str:
    if not re.match(r"^https?://[^/\s]+/?$", raw):
        raise ValueError("must be an http(s) URL of the S3 endpoint, e.g. http://127.0.0.1:9000")
    return raw.rstrip("/")


def bucket_name(raw: str) -> str:
    if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", raw):
        raise ValueError("must be a valid S3 bucket name (3-63 lowercase letters, digits, . -)")
    return raw


def log_level(raw: str) -> str:
    if raw.upper() not in LOG_LEVELS:
        raise ValueError("must be one of " + ", ".join(LOG_LEVELS))
    return raw.upper()


def host_patterns(raw: str) -> tuple[str, ...]:
    hosts = tuple(part.strip().lower().rstrip(".") for part in raw.split(",") if part.strip())
    for host in hosts:
        if not _HOST_PATTERN.match(host):
            raise ValueError(f"{host!r} is not a host name or *.domain pattern")
    return hosts


def _read(environ: Mapping[str, str]) -> tuple[Settings, _Reader]:
    r = _Reader(environ)
    cores = os.cpu_count() or 1
    server = ServerSettings(
        public_base_url=r.get(
            "PUBLIC_BASE_URL",
            base_url,
            None,
            group="server",
            description="Base of the asset URLs in answers; the request's own host when unset.",
        ),
        log_level=r.get(
            "LOG_LEVEL", log_level, "INFO", group="server", description="Logging threshold."
        ),
    )
    auth = AuthSettings(
        api_keys=r.get(
            "API_KEYS",
            api_keys,
            (),
            group="auth",
            secret=True,
            description="Comma-separated id:key pairs accepted in X-API-Key.",
        ),
        api_keys_file=r.get(
            "API_KEYS_FILE",
            Path,
            None,
            group="auth",
            description="File of hashed keys, reloaded on change (imgstax keys ...).",
        ),
        signing_keys=r.get(
            "SIGNING_KEYS",
            signing_keys,
            (),
            group="auth",
            secret=True,
            description="Asset-token signing keys, comma-separated, newest first.",
        ),
        rate_limit_per_minute=r.get(
            "RATE_LIMIT_PER_MINUTE",
            integer(1, 1_000_000),
            600,
            group="auth",
            description="Requests a minute allowed per API key, per process.",
        ),
    )
    storage = StorageSettings(
        data_dir=r.get(
            "DATA_DIR",
            Path,
            Path("var"),
            group="storage",
            description="Local data: disk tier, keys, uploads when S3 is not configured.",
        ),
        s3_bucket=r.get(
            "S3_BUCKET",
            bucket_name,
            None,
            group="storage",
            description="S3 bucket for the second tier; local disk when unset.",
        ),
        s3_endpoint_url=r.get(
            "S3_ENDPOINT_URL",
            endpoint_url,
            None,
            group="storage",
            description="Endpoint of an S3-compatible store (MinIO, R2, ...); AWS when unset.",
        ),
        s3_region=r.get("S3_REGION", str, "us-east-1", group="storage", description="S3 region."),
        memory_cache_bytes=r.get(
            "MEMORY_CACHE_BYTES",
            integer(0, 1 << 40),
            256 * 1024 * 1024,
            group="storage",
            description="Bound of the in-process memory tier, in bytes.",
        ),
    )
    sources = SourceSettings(
        max_source_bytes=r.get(
            "MAX_SOURCE_BYTES",
            integer(1024, 1 << 31),
            52_428_800,
            group="sources",
            description="Largest source image accepted, in bytes.",
        ),
        max_source_pixels=r.get(
            "MAX_SOURCE_PIXELS",
            integer(1, 1 << 34),
            100_000_000,
            group="sources",
            description="Largest source accepted, in pixels over all frames.",
        ),
        allow_private_sources=r.get(
            "ALLOW_PRIVATE_SOURCES",
            boolean,
            False,
            group="sources",
            description="Allow source URLs on loopback and private networks (local use only).",
        ),
        source_allowlist=r.get(
            "SOURCE_ALLOWLIST",
            host_patterns,
            (),
            group="sources",
            description="If set, only these hosts (or *.domain) may be source URLs.",
        ),
    )
    workers = r.get(
        "RENDER_WORKERS",
        integer(1, 256),
        cores,
        group="render",
        description="Renders running at once per process (default: the cores).",
    )
    default_timeout: float | None = DEFAULT_RENDER_TIMEOUT
    render = RenderSettings(
        workers=workers,
        queue=r.get(
            "RENDER_QUEUE",
            integer(0, 100_000),
            QUEUE_PER_WORKER * workers,
            group="render",
            description="Renders that may wait for a worker (default: 4 per worker); beyond it, "
            "503 OVERLOADED.",
        ),
        timeout=r.get(
            "RENDER_TIMEOUT",
            seconds_or_off(1, 3600),
            default_timeout,
            group="render",
            description="Seconds of image work one render may take before it is stopped with "
            "503 OVERLOADED (0: no limit).",
        ),
    )
    known = {info.name for info in r.catalogue}
    for name in sorted(environ):
        if name.startswith(PREFIX) and name not in known:
            r.problems.append(f"{name}: unknown setting (known: see `imgstax settings`)")
    return Settings(server, auth, storage, sources, render), r


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build Settings from the mapping, or raise ConfigError naming every bad variable."""
    settings, reader = _read(environ)
    if reader.problems:
        raise ConfigError(reader.problems)
    return settings


def describe() -> list[SettingInfo]:
    """Every setting with its group, default and description."""
    return _read({})[1].catalogue
