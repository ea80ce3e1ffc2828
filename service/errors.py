"""The service-wide exception base, so the API can map every failure of ours in one place."""


class ServiceError(Exception):
    """Base class of the service's own errors; the message says what went wrong, in words.

    Subclasses say which kind of failure it is; the API layer alone turns kinds into HTTP
    statuses, so no error here carries one.
    """
