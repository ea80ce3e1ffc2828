"""Subject names: what a person is enrolled under, checked before anything is stored.

Names are shown in answers, used in URL paths (``DELETE /faces/{subject}``) and compared for
equality, so they are normalised (Unicode NFC) and kept to printable text: letters and digits
of any script, spaces inside, and a few punctuation marks people use in names and ids.
"""

from __future__ import annotations

import unicodedata

from service.faces.store import InvalidSubjectError

MAX_SUBJECT_LENGTH = 128
_PUNCTUATION = frozenset(" .,'-_@+()")
_ALLOWED_CATEGORIES = ("L", "N", "M")  # letters, numbers, combining marks (any script)


def validate_subject(name: str) -> str:
    """``name`` in NFC, or ``InvalidSubjectError`` saying exactly what is wrong with it."""
    if not name:
        raise InvalidSubjectError("subject must not be empty")
    if len(name) > 4 * MAX_SUBJECT_LENGTH:  # before normalising: bound the work on huge input
        raise InvalidSubjectError(
            f"subject is {len(name)} characters long; at most {MAX_SUBJECT_LENGTH} are allowed"
        )
    normal = normalised(name)
    if len(normal) > MAX_SUBJECT_LENGTH:
        raise InvalidSubjectError(
            f"subject is {len(normal)} characters long; at most {MAX_SUBJECT_LENGTH} are allowed"
        )
    if normal != normal.strip():
        raise InvalidSubjectError("subject must not start or end with whitespace")
    if normal.strip(".") == "":
        # "." and ".." are dot segments: browsers and curl normalise them out of
        # DELETE /faces/{subject}, so such a subject could never be deleted again.
        raise InvalidSubjectError(
            f"subject {normal!r} is only dots, which URLs cannot address; add a letter or digit"
        )
    for position, char in enumerate(normal):
        if char in _PUNCTUATION or unicodedata.category(char)[0] in _ALLOWED_CATEGORIES:
            continue
        raise InvalidSubjectError(
            f"subject contains {_describe(char)} at position {position}; allowed are letters "
            f"and digits of any script, spaces and {''.join(sorted(_PUNCTUATION - {' '}))}"
        )
    return normal


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def shown(subject: str, limit: int = 60) -> str:
    """``subject`` quoted for a message, shortened: a client may send megabytes of name."""
    text = repr(subject)
    return text if len(text) <= limit else f"{text[: limit - 4]}...{text[-1]}"


def normalised(subject: str) -> str:
    """The form names are stored in, for looking a name up (e.g. from a URL path)."""
    return unicodedata.normalize("NFC", subject)
