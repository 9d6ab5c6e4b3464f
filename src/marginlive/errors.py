"""The project's own exception types. Each message says what went wrong and what to do.

The CLI prints them on one line without a traceback and exits with ``exit_code``;
the server answers them with a 4xx status.
"""


class MarginliveError(Exception):
    """Base of every error a user can cause."""

    exit_code = 2
    http_status = 400


class InputError(MarginliveError):
    """A path, image, video or request body that cannot be used."""


class NoFaceError(InputError):
    """No face (or not exactly the expected number of faces) where one was needed."""

    exit_code = 3
    http_status = 422


class IdentityConflict(InputError):
    """Faces to enrol that are not one person's alone: they match another identity, or not those
    already enrolled under the name."""

    http_status = 409


class TooLargeError(InputError):
    """An input larger than the configured budget (an image's pixels, a body's bytes)."""

    http_status = 413


class CameraError(InputError):
    """A camera that cannot be opened or stopped delivering frames."""

    exit_code = 4


class ModelError(MarginliveError):
    """A missing, corrupt or foreign model file."""

    exit_code = 5


class DatasetError(MarginliveError):
    """A dataset or manifest that cannot be trained or evaluated on."""

    exit_code = 6


class UnavailableError(MarginliveError):
    """A service this one depends on (Redis, PostgreSQL) cannot be reached: nothing the caller sent
    was wrong, and the same request may succeed shortly (HTTP 503 with Retry-After). The message
    names the service only; where it lives goes to the log, not to the client."""

    exit_code = 8
    http_status = 503
    retry_after = 5
