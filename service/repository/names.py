"""Which model and file names the repository accepts: they end up in URLs and file paths."""

from __future__ import annotations

import re

# A model's folder name is its `model` query value, so it stays URL- and shell-safe.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MODEL_NAME_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64"
# A file name inside a model folder or a mirror: no separators, so it cannot leave the folder.
FILE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
