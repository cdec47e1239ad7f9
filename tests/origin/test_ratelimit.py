"""Per-key fixed-window rate limiting, driven by a fake clock."""

from __future__ import annotations

import pytest

from config.errors import RateLimited
from origin.ratelimit import RateLimiter, RateLimitExceeded, RateState, headers

WALL = 1_700_000_000.0


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(500.0)


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(WALL)


def limiter(per_minute: int, clock: FakeClock, wall: FakeClock, **kw: int) -> RateLimiter:
    def tick() -> float:
        return clock()

    def wall_tick() -> float:
        # The wall clock moves with the monotonic one, from its own origin.
        return wall.now + (clock.now - 500.0)

    return RateLimiter(per_minute, clock=tick, wall_clock=wall_tick, **kw)


@pytest.mark.parametrize("limit", [1, 3, 60, 600], ids=lambda n: f"limit-{n}")
def test_remaining_counts_down_then_the_next_hit_is_refused(
    limit: int, clock: FakeClock, wall: FakeClock
) -> None:
    rl = limiter(limit, clock, wall)
    states = []
    for _ in range(limit):
        states.append(rl.hit("k"))
        clock.advance(0.01)
    assert [s.remaining for s in states] == list(range(limit - 1, -1, -1))
    assert {s.limit for s in states} == {limit}
    assert {s.reset for s in states} == {int(WALL + 60)}
    with pytest.raises(RateLimited) as caught:
        rl.hit("k")
    assert caught.value.status == 429 and caught.value.code == "RATE_LIMITED"
    assert 0 < caught.value.retry_after <= 60
    assert str(limit) in caught.value.message


@pytest.mark.parametrize(
    ("elapsed", "retry_after"),
    [(0.0, 60), (0.5, 60), (1.0, 59), (30.2, 30), (59.0, 1), (59.9, 1)],
    ids=["at-once", "half-second", "one-second", "mid-window", "last-second", "almost-reset"],
)
def test_retry_after_is_the_time_left_in_the_window(
    elapsed: float, retry_after: int, clock: FakeClock, wall: FakeClock
) -> None:
    rl = limiter(1, clock, wall)
    rl.hit("k")
    clock.advance(elapsed)
    with pytest.raises(RateLimitExceeded) as caught:
        rl.hit("k")
    assert caught.value.retry_after == retry_after
    assert caught.value.state == RateState(1, 0, int(WALL + 60))


def test_window_resets_after_a_minute(clock: FakeClock, wall: FakeClock) -> None:
    rl = limiter(2, clock, wall)
    rl.hit("k")
    rl.hit("k")
    clock.advance(59.999)
    with pytest.raises(RateLimited):
        rl.hit("k")
    clock.advance(0.001)
    state = rl.hit("k")
    assert state.remaining == 1
    assert state.reset == int(WALL + 120)


def test_keys_are_independent(clock: FakeClock, wall: FakeClock) -> None:
    rl = limiter(1, clock, wall)
    rl.hit("a")
    with pytest.raises(RateLimited):
        rl.hit("a")
    assert rl.hit("b").remaining == 0
    clock.advance(30)
    assert rl.hit("c").reset == int(WALL + 90)


def test_headers_are_integers_as_strings(clock: FakeClock, wall: FakeClock) -> None:
    wall.now = WALL + 0.25  # a fractional wall clock still gives a whole, rounded-up reset
    out = headers(limiter(10, clock, wall).hit("k"))
    assert out == {
        "X-RateLimit-Limit": "10",
        "X-RateLimit-Remaining": "9",
        "X-RateLimit-Reset": str(int(WALL) + 61),
    }
    assert all(value.isdigit() for value in out.values())


def test_idle_keys_are_forgotten(clock: FakeClock, wall: FakeClock) -> None:
    rl = limiter(5, clock, wall)
    for i in range(10_000):
        rl.hit(f"key-{i}")
    assert len(rl) == 10_000
    clock.advance(60)
    rl.hit("fresh")
    assert len(rl) == 1


def test_memory_is_bounded_by_max_keys(clock: FakeClock, wall: FakeClock) -> None:
    rl = limiter(5, clock, wall, max_keys=100)
    for i in range(5_000):
        rl.hit(f"key-{i}")
    assert len(rl) <= 100


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RateLimiter(0)
