"""The one exception tree of imgstax.

Every package raises from this tree, so it lives at the bottom of the import graph. Each class
knows its HTTP status, its machine-readable code and a short title; the origin has one handler
that turns any of them into ``{"error": title, "message": ..., "code": code}``.

    ImgstaxError                       500 INTERNAL_ERROR
    ├── InvalidRequest                 400 INVALID_REQUEST
    │   ├── UnsupportedImage           400 UNSUPPORTED_IMAGE
    │   ├── ImageTooLarge              400 IMAGE_TOO_LARGE
    │   ├── SourceForbidden            400 SOURCE_FORBIDDEN
    │   ├── SourceNotFound             400 SOURCE_NOT_FOUND
    │   └── TargetSizeUnreachable      400 TARGET_SIZE_UNREACHABLE
    ├── Unauthorized                   401 UNAUTHORIZED
    ├── NotFound                       404 NOT_FOUND
    ├── IdempotencyConflict            409 IDEMPOTENCY_CONFLICT
    ├── PayloadTooLarge                413 PAYLOAD_TOO_LARGE
    ├── RateLimited                    429 RATE_LIMITED      (retry_after)
    ├── SourceUnreachable              502 SOURCE_UNREACHABLE
    ├── Overloaded                     503 OVERLOADED        (retry_after)
    │   └── StoreUnavailable           503 OVERLOADED        (a second-tier store failed)
    ├── SourceTimeout                  504 SOURCE_TIMEOUT
    └── ConfigError                    (startup only: every bad variable, named)
"""

from __future__ import annotations


class ImgstaxError(Exception):
    """Root of every error imgstax raises on purpose."""

    status = 500
    code = "INTERNAL_ERROR"
    title = "Internal Server Error"
    # Whether the error means something is wrong with us rather than with the caller.
    report = True

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def caller_message(self) -> str:
        """What the caller is told; ``message`` goes to the log when ``report`` is set."""
        return self.message


class InvalidRequest(ImgstaxError):
    status = 400
    code = "INVALID_REQUEST"
    title = "Invalid Request"
    report = False


class UnsupportedImage(InvalidRequest):
    code = "UNSUPPORTED_IMAGE"
    title = "Unsupported Image"


class ImageTooLarge(InvalidRequest):
    code = "IMAGE_TOO_LARGE"
    title = "Image Too Large"


class SourceForbidden(InvalidRequest):
    code = "SOURCE_FORBIDDEN"
    title = "Source Forbidden"


class SourceNotFound(InvalidRequest):
    code = "SOURCE_NOT_FOUND"
    title = "Source Not Found"


class TargetSizeUnreachable(InvalidRequest):
    code = "TARGET_SIZE_UNREACHABLE"
    title = "Target Size Unreachable"


class Unauthorized(ImgstaxError):
    status = 401
    code = "UNAUTHORIZED"
    title = "Unauthorized"
    report = False


class NotFound(ImgstaxError):
    status = 404
    code = "NOT_FOUND"
    title = "Not Found"
    report = False


class IdempotencyConflict(ImgstaxError):
    status = 409
    code = "IDEMPOTENCY_CONFLICT"
    title = "Idempotency Conflict"
    report = False


class RequestTimeout(ImgstaxError):
    """The request's body did not arrive in the time allowed."""

    status = 408
    code = "REQUEST_TIMEOUT"
    title = "Request Timeout"
    report = False


class PayloadTooLarge(ImgstaxError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"
    title = "Payload Too Large"
    report = False


class RateLimited(ImgstaxError):
    status = 429
    code = "RATE_LIMITED"
    title = "Too Many Requests"
    report = False

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SourceUnreachable(ImgstaxError):
    status = 502
    code = "SOURCE_UNREACHABLE"
    title = "Source Unreachable"
    report = False


class Overloaded(ImgstaxError):
    status = 503
    code = "OVERLOADED"
    title = "Service Overloaded"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreUnavailable(Overloaded):
    """A second-tier store (S3, disk) failed or timed out."""

    # The design's code list has no storage code of its own: to a caller this is a 503 to retry.
    title = "Storage Unavailable"

    @property
    def caller_message(self) -> str:
        # The message names paths, endpoints, buckets and OS errors: for the log only.
        return "The image store is unavailable; try again shortly."


class RenderTimeout(Overloaded):
    """A render ran past its time limit and was stopped (a 503, as imgproxy answers one)."""

    title = "Render Timeout"


class SourceTimeout(ImgstaxError):
    status = 504
    code = "SOURCE_TIMEOUT"
    title = "Source Timeout"
    report = False


class ConfigError(ImgstaxError):
    """Raised at startup with every invalid setting listed, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))
        self.problems = problems
