"""The library's own exception types, so callers can tell our refusals from numpy's."""


class DetectionError(ValueError):
    """Base class: an input the library refuses, with a message saying why."""


class LayoutError(DetectionError):
    """A model output whose layout is unknown, malformed or ambiguous."""


class MetadataError(DetectionError):
    """Model metadata that is present but malformed: decoding on a guess would be worse."""
