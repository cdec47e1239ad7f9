"""render(): source bytes and a TransformSpec in, encoded bytes and what was reached out."""

from __future__ import annotations

from dataclasses import dataclass

from config.errors import InvalidRequest, TargetSizeUnreachable
from transforms import vips
from transforms.encode import encode
from transforms.geometry import Plan, plan_geometry, scale_to
from transforms.job import Job
from transforms.pipeline import build_image
from transforms.probe import SourceInfo, probe
from transforms.spec import MAX_DIMENSION, ImageFormat, TransformSpec
from transforms.target_size import AIM, PRIORS, first_guess, search_quality

DEFAULT_MAX_PIXELS = 100_000_000
# When no quality meets a byte cap, the image is shrunk for this quality (where that is
# allowed), so what comes out of a shrink still looks like a photo.
SHRINK_QUALITY = 60
MAX_SHRINKS = 6
# The longest side a source is scaled to before a crop takes the box out of it: libvips'
# own coordinate limit (VIPS_MAX_COORD), past which its resample fails.
MAX_SCALED = 10_000_000


@dataclass(frozen=True)
class RenderResult:
    data: bytes
    width: int
    height: int
    format: ImageFormat
    quality: int | None  # the quality encoded at; None for Png and passthrough
    encodes: int
    passthrough: bool = False

    @property
    def mime_type(self) -> str:
        return self.format.mime_type


def render(
    data: bytes, spec: TransformSpec, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> RenderResult:
    """Render data as spec says; raises the typed errors of config.errors on bad input."""
    info = probe(data, max_pixels)
    output = spec.format.type or info.default_output
    if _passes_through(data, spec, info, output):
        vips.decodes_fully(data, every_frame=info.pages > 1)
        return RenderResult(data, info.width, info.height, output, None, 0, passthrough=True)
    cap = _cap(spec)
    if cap is not None and not output.sizeable:
        raise InvalidRequest(
            f"A file-size cap needs Jpeg, Webp or Avif output; this image would be {output.value}. "
            "Set format.type to one of them."
        )
    plan = plan_geometry(info.width, info.height, spec.resize, spec.downsize)
    _check_enlargement(plan, info)
    job = Job(spec, plan, output, info.srgb_profile)
    with vips.translated():
        image = build_image(data, job)
        _check_output_pixels(image, max_pixels)
        _check_encodable(image, output)
        if cap is None:
            out = encode(image, output, spec.format.quality, spec.format.priority)
            return RenderResult(out, image.width, image.height, output, _q(output, spec), 1)
        return _render_under_cap(vips.copy_memory(image), job, cap)


def _check_enlargement(plan: Plan, info: SourceInfo) -> None:
    """A resize may make a side up to MAX_DIMENSION long, or keep a longer one; never more.

    With one side given the other follows the aspect ratio, so a thin strip asked for a width
    would otherwise grow without bound (a 3x900 PNG at width 2000 is 2000x600000 pixels).
    """
    if plan.width <= max(MAX_DIMENSION, info.width) and plan.height <= max(
        MAX_DIMENSION, info.height
    ):
        if plan.smart_window is not None or max(plan.scale_width, plan.scale_height) <= MAX_SCALED:
            return
        # A fixed-gravity Cover scales the whole source before it crops: a 1x300000 strip
        # covering 8192x8192 would be 8192x2457600000 pixels on the way (past libvips' reach).
        raise InvalidRequest(
            f"This {info.width}x{info.height} image would have to be scaled to "
            f"{plan.scale_width}x{plan.scale_height} to cover {plan.width}x{plan.height}; a side "
            f"may be at most {MAX_SCALED} on the way. Use fit Contain, or a smaller box."
        )
    raise InvalidRequest(
        f"This {info.width}x{info.height} image resized that way would be "
        f"{plan.width}x{plan.height} pixels; a side may be at most {MAX_DIMENSION}. Give a "
        "smaller size, or both width and height with a fit."
    )


def _check_output_pixels(image: vips.Image, max_pixels: int) -> None:
    """The output obeys the source's pixel cap: resize and pad could otherwise make a 268 MP
    image (16384x16384, 1.8 GB of memory) from a 1x1 PNG. The pipeline is still lazy here."""
    pixels = image.width * image.height
    if pixels <= max_pixels:
        return
    raise InvalidRequest(
        f"The output would be {image.width}x{image.height} pixels ({pixels:,}); the limit is "
        f"{max_pixels:,}. Ask for a smaller size or less padding."
    )


def _check_encodable(image: vips.Image, output: ImageFormat) -> None:
    """Refuse, saying why, an image too large for the output's encoder (a wide panorama as
    Webp), rather than let the encoder fail as if the source were corrupt."""
    if max(image.width, image.height) <= output.max_side:
        return
    raise InvalidRequest(
        f"{output.value} images are at most {output.max_side} pixels on a side; this one would "
        f"be {image.width}x{image.height}. Resize it, or ask for another format."
    )


def _passes_through(
    data: bytes, spec: TransformSpec, info: SourceInfo, output: ImageFormat
) -> bool:
    """Downsize promises the source's own bytes when it is already within every cap (an
    animated Webp's too: every other endpoint renders its first frame)."""
    if spec.downsize is None or output is not info.native_output:
        return False
    caps = spec.downsize
    within = (not caps.max_width or info.width <= caps.max_width) and (
        not caps.max_height or info.height <= caps.max_height
    )
    small_enough = spec.max_bytes is None or len(data) <= spec.max_bytes
    return within and small_enough


def _cap(spec: TransformSpec) -> int | None:
    caps = [c for c in (spec.format.target_size, spec.max_bytes) if c is not None]
    return min(caps) if caps else None


def _q(output: ImageFormat, spec: TransformSpec) -> int | None:
    return spec.format.quality if output.lossy else None


def _render_under_cap(image: vips.Image, job: Job, cap: int) -> RenderResult:
    spec, output = job.spec, job.output
    priority = spec.format.priority
    encodes = 0

    def encode_at(quality: int) -> bytes:
        nonlocal encodes
        encodes += 1
        return encode(image, output, quality, priority)

    targeted = spec.format.target_size is not None
    if not targeted:
        # A plain cap: the quality asked for, lowered only if the result is too large.
        first = encode_at(spec.format.quality)
        if len(first) <= cap:
            return RenderResult(first, image.width, image.height, output, spec.format.quality, 1)
    high = 100 if targeted else max(1, spec.format.quality - 1)
    prior = PRIORS[output]
    guess = first_guess(output, cap, image.width * image.height)
    for _ in range(MAX_SHRINKS + 1):
        state = search_quality(
            encode_at, cap, first=guess, slope=prior.slope, low=1, high=high, axis=prior.axis
        )
        if state.best is not None:
            quality, out = state.best
            return RenderResult(out, image.width, image.height, output, quality, encodes)
        if not spec.may_shrink_to_fit or (image.width, image.height) == (1, 1):
            break
        # Not even quality 1 fits: shrink so that SHRINK_QUALITY lands near the cap, from its
        # size at this size (quality 1's size says little about it: 0.6-9 x off when
        # extrapolated). Bytes grow with about pixels^0.8 (smaller images carry more detail
        # per pixel), so the side scales by the size ratio to the power 1 / (2 * 0.8).
        at = state.sizes.get(SHRINK_QUALITY) or len(encode_at(SHRINK_QUALITY))
        factor = min(0.9, (cap * AIM / at) ** 0.625)
        width, height = scale_to(image.width, image.height, factor)
        image = vips.copy_memory(vips.resize_exact(image, width, height))
        guess = SHRINK_QUALITY
    raise TargetSizeUnreachable(
        f"The image cannot be encoded as {output.value} in {cap:,} bytes at "
        f"{image.width}x{image.height} even at the lowest quality; raise the size cap or "
        "ask for smaller dimensions."
    )
