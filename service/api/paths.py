"""Which route family a request is for, wherever the app is mounted.

Behind a proxy that sets ``root_path`` (``uvicorn --root-path /vision``), or mounted inside
another app, ``scope["path"]`` is the full path with that prefix in front (uvicorn adds it, and
Starlette's router takes it off before matching). A family decided from the raw path would miss
its own routes there, or claim another family's: under ``root_path`` ``/api``, DeepStack's
``/api/v1/vision/face`` looks like CompreFace's ``/api/v1/``. So every such decision (the key
check, each family's error shape) compares the path the router matches, from here.
"""

from __future__ import annotations

from starlette.types import Scope


def route_path(scope: Scope) -> str:
    """``scope["path"]`` without the ``root_path`` prefix: the path the router matches.

    The prefix comes off only whole (``/vision`` off ``/vision/v1/x``, not off ``/visionary``),
    and a path outside it is left as it is, as Starlette's router does.
    """
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and (path == root or path.startswith(f"{root}/")):
        return path[len(root) :]
    return path


def is_below(scope: Scope, prefix: str) -> bool:
    """Whether the request is for a route below ``prefix`` (``/v1/x`` is below ``/v1``; ``/v1``
    itself and ``/v1x`` are not), wherever the app is mounted."""
    return route_path(scope).startswith(f"{prefix}/")
