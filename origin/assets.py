"""Minting assets on POST and producing their bytes on GET, through the tiered cache.

Two POSTs of the same transform on the same bytes share one render-cache entry and one ETag,
whatever their expiry or key. A render is stored until the latest expiry of the assets that
point at it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cache import StoredObject, TieredCache, render_key
from config.errors import InvalidRequest, NotFound
from origin.bodies import DEFAULT_TTL, Job
from origin.budget import SourceBudget
from origin.metrics import Metrics
from origin.pool import RenderPool
from origin.sources import Sources
from origin.tokens import RENDER_VERSION, AssetToken, TokenSigner
from transforms import TransformSpec, parse_spec, render

# When a longer-lived asset points at a stored render, extend the render by this much more, so
# that a stream of POSTs does not rewrite the object every time.
EXTENSION_SLACK = 86_400
_log = logging.getLogger("imgstax.origin")


@dataclass(frozen=True)
class Minted:
    asset_id: str
    token: AssetToken
    render: StoredObject


def iso8601(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Assets:
    def __init__(
        self,
        cache: TieredCache,
        sources: Sources,
        pool: RenderPool,
        signer: TokenSigner,
        metrics: Metrics,
        *,
        max_pixels: int,
        budget: SourceBudget,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._cache = cache
        self._sources = sources
        self._budget = budget
        self._pool = pool
        self._signer = signer
        self._metrics = metrics
        self._max_pixels = max_pixels
        self._clock = clock

    async def create(self, job: Job, key_id: str) -> Minted:
        """Resolve the source, render (or find the render), and sign the asset id."""
        with self._budget.account():  # the source's bytes count until the render is done
            return await self._create(job, key_id)

    async def _create(self, job: Job, key_id: str) -> Minted:
        ref, data = await self._sources.load(job.source, key_id)
        expires_at = int(self._clock()) + job.output.ttl_seconds
        token = AssetToken(
            RENDER_VERSION,
            ref,
            job.spec.to_dict(),
            job.spec.canonical(),
            expires_at,
            key_id,
            job.output.public,
        )
        key = render_key(token.render_key)
        asset_id = self._signer.mint(token)  # first: an id too long to serve is refused unrendered

        async def load() -> StoredObject:
            return await self._render(data, job.spec, expires_at)

        obj = await self._cache.get_or_load(key, load)
        # Only bytes that rendered are kept: a refused source (truncated, a bomb) is never stored.
        await self._sources.ingest(ref, data)
        if obj.expires_at is not None and obj.expires_at < expires_at:
            obj = StoredObject(
                obj.data, obj.content_type, expires_at + EXTENSION_SLACK, obj.metadata
            )
            await self._cache.put(key, obj)
        return Minted(asset_id, token, obj)

    async def fetch(self, token: AssetToken) -> StoredObject:
        """The rendered bytes of a verified token: memory, second tier, or a fresh render."""

        async def load() -> StoredObject:
            try:
                spec = parse_spec(token.spec)
                with self._budget.account():
                    data = await self._sources.reload(token.source, token.key_id)
                    # Other live assets may share this render: keep it a default lifetime.
                    keep = max(token.expires_at, int(self._clock()) + DEFAULT_TTL)
                    return await self._render(data, spec, keep)
            except InvalidRequest as exc:
                # The asset was valid when minted; what changed since (lower limits, another
                # version's vocabulary) is no fault of whoever follows the URL. The reason may
                # name the sealed source, so it goes to the log only.
                _log.warning("asset %s can no longer be rendered: %s", token.render_key[:12], exc)
                raise NotFound("The asset can no longer be rendered.") from exc

        return await self._cache.get_or_load(render_key(token.render_key), load)

    async def _render(self, data: bytes, spec: TransformSpec, expires_at: int) -> StoredObject:
        with self._metrics.render_timer():
            result = await self._pool.run(render, data, spec, max_pixels=self._max_pixels)
        self._metrics.rendered(result.format.value, result.encodes)
        metadata = {
            "width": str(result.width),
            "height": str(result.height),
            "format": result.format.value,
        }
        return StoredObject(result.data, result.mime_type, float(expires_at), metadata)


def answer(minted: Minted, base_url: str, metadata: dict[str, str]) -> dict[str, Any]:
    """The documented POST answer."""
    obj = minted.render
    return {
        "assetId": minted.asset_id,
        "url": f"{base_url}/v1/assets/{minted.asset_id}",
        "width": int(obj.metadata["width"]),
        "height": int(obj.metadata["height"]),
        "sizeBytes": len(obj.data),
        "format": obj.metadata["format"],
        "mimeType": obj.content_type,
        "expiresAt": iso8601(minted.token.expires_at),
        "metadata": metadata,
    }
