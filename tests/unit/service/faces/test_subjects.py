from __future__ import annotations

import re
import unicodedata

import pytest

from service.faces import MAX_SUBJECT_LENGTH, InvalidSubjectError, validate_subject
from service.faces.subjects import shown


@pytest.mark.parametrize(
    "name", ["Barack Obama", "O'Brien-Smith", "user_42@site", "李小龍", "Zoë", "Андрей", "x"]
)
def test_names_people_use_are_accepted(name: str) -> None:
    assert validate_subject(name) == name


def test_names_are_stored_in_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "José")
    assert decomposed != "José"
    assert validate_subject(decomposed) == "José"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "must not be empty"),
        ("x" * (MAX_SUBJECT_LENGTH + 1), "129 characters long; at most 128"),
        ("x" * 10_000, "10000 characters long"),
        (" padded", "must not start or end with whitespace"),
        ("tab\tinside", "U+0009"),
        ("a/b", "U+002F (SOLIDUS) at position 1"),
        ("nul\x00", "U+0000"),
        ("emoji 🙂", "U+1F642"),
    ],
)
def test_bad_names_are_refused_saying_why(name: str, message: str) -> None:
    with pytest.raises(InvalidSubjectError, match=re.escape(message)):
        validate_subject(name)


def test_shown_shortens_long_names_for_messages() -> None:
    assert shown("ann") == "'ann'"
    long = shown("y" * 10_000)
    assert len(long) == 60 and long.startswith("'yyy") and long.endswith("...'")
