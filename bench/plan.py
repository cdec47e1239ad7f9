"""How long each workload runs: the full benchmark, and the smoke that keeps it from rotting."""

from __future__ import annotations

from dataclasses import dataclass

from bench.sources import FIXTURES, PHOTO_24MP

WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W5b", "W6", "W8")  # W7 is measured during W1


@dataclass(frozen=True)
class Plan:
    smoke: bool
    rounds: int  # interleaved rounds of the throughput workloads (W1, W2, W4, W5)
    seconds: float  # per implementation per round
    png_variants: int  # distinct 2048 px PNG sources for W2 (Png output has no quality)
    size_requests: int  # W3, per format
    hit_seconds: float  # W5, per implementation per round
    second_tier_assets: int  # W5b, per store
    load80_seconds: float  # W6, the 80 % load the overload is compared with
    overload_seconds: float  # W6, the 3x overload
    quality_photos: int  # W8
    thumbor: bool
    photo_name: str  # the photo of W1, W3, W4 and W6
    warm_up: bool = True  # one untimed round per implementation first
    quiet_budget: float = 0.0  # seconds the whole run may wait for other jobs to leave the CPUs
    concurrency: int = 4  # renders in flight: the 2 workers busy and 2 requests queued
    hit_concurrency: int = 8  # W5 keep-alive connections
    workers: int = 2  # IMGSTAX_RENDER_WORKERS, and the threads of every in-process reference

    @property
    def photo(self) -> bytes:
        return (FIXTURES / self.photo_name).read_bytes()

    @property
    def photo_label(self) -> str:
        return "24 MP progressive JPEG" if self.photo_name == PHOTO_24MP.name else self.photo_name


FULL = Plan(
    smoke=False,
    rounds=4,
    seconds=2.0,
    png_variants=4,
    size_requests=20,
    hit_seconds=2.0,
    second_tier_assets=60,
    load80_seconds=10.0,
    overload_seconds=6.0,
    quality_photos=5,
    thumbor=True,
    photo_name=PHOTO_24MP.name,
    quiet_budget=120.0,
)

SMOKE = Plan(
    smoke=True,
    rounds=1,
    seconds=0.1,
    png_variants=1,
    size_requests=1,
    hit_seconds=0.15,
    second_tier_assets=2,
    load80_seconds=0.4,
    overload_seconds=0.3,
    quality_photos=1,
    thumbor=False,
    # A 5 MP progressive photo: the same code paths in a fifth of the time.
    photo_name="photo-progressive-1944x2592.jpg",
    warm_up=False,
)
