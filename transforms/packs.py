"""Packs: named specs for the platforms' own sizes (v1 definitions)."""

from __future__ import annotations

from dataclasses import dataclass

from config.errors import NotFound
from transforms.spec import Fit, FormatOptions, Gravity, ImageFormat, Resize, TransformSpec

PACK_QUALITY = 85
MB = 1024 * 1024


@dataclass(frozen=True)
class Pack:
    id: str
    title: str
    width: int
    height: int
    fit: Fit
    max_bytes: int | None = None

    def spec(self, fmt: FormatOptions | None = None) -> TransformSpec:
        """This pack as a spec; a request's own format options override the pack's Jpeg 85."""
        options = fmt or FormatOptions(ImageFormat.JPEG, PACK_QUALITY)
        resize = Resize(self.width, self.height, self.fit, Gravity.SMART)
        return TransformSpec(resize=resize, format=options, max_bytes=self.max_bytes)

    def describe(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "width": self.width,
            "height": self.height,
            "fit": self.fit.value,
            "gravity": Gravity.SMART.value,
            "format": ImageFormat.JPEG.value,
            "quality": PACK_QUALITY,
            "maxSizeBytes": self.max_bytes,
        }


PACKS: dict[str, Pack] = {
    pack.id: pack
    for pack in (
        Pack("instagram-feed", "Instagram feed posts", 1080, 1350, Fit.COVER),
        Pack("instagram-story", "Instagram stories", 1080, 1920, Fit.FIT_BLUR_BACKGROUND),
        Pack("tiktok", "TikTok videos", 1080, 1920, Fit.FIT_BLUR_BACKGROUND),
        Pack("youtube-thumbnail", "YouTube thumbnails", 1280, 720, Fit.COVER, 2 * MB),
        Pack("twitter-post", "X/Twitter posts", 1600, 900, Fit.COVER, 5 * MB),
        Pack("linkedin-post", "LinkedIn posts", 1200, 627, Fit.COVER),
        Pack("pinterest-pin", "Pinterest pins", 1000, 1500, Fit.COVER, 20 * MB),
    )
}


def get_pack(pack_id: str) -> Pack:
    """The pack with this id, or NotFound naming the ones that exist."""
    pack = PACKS.get(pack_id)
    if pack is None:
        raise NotFound(f"No pack named {pack_id!r}. Packs: {', '.join(PACKS)}.")
    return pack
