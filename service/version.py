"""The service's version, read from the installed package: pyproject.toml is its one home.

The service is always installed (``pip install -e .`` or the container's ``pip install .``),
so the package metadata is there and no fallback is kept.
"""

from importlib.metadata import version

VERSION = version("vision-service")
