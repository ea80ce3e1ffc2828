"""Query parameters of our native inference routes: an unknown name is refused, not ignored.

A misspelt or foreign parameter (``?conf=0.99`` before it was an alias, ``?treshold=``)
silently ignored gives an answer the client did not ask for; a 422 that lists the names the
route knows makes the mistake visible at once. Only the native routes use this: the DeepStack
(/v1) and Open Inference Protocol (/v2) families keep their clients' loose habits.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from starlette.routing import BaseRoute

from service.api.errors import FieldProblem, InvalidParameterError


async def refuse_unknown_query(request: Request) -> None:
    """A router dependency: 422 ``invalid-parameter`` naming each unknown query parameter and
    listing the route's own."""
    known = _known_names(request.scope.get("route"))
    if known is None:
        return
    unknown = [name for name in dict.fromkeys(request.query_params) if name not in known]
    if not unknown:
        return
    listed = ", ".join(sorted(known)) or "none"
    detail = f"unknown parameter; this route takes: {listed}"
    raise InvalidParameterError(
        f"unknown query parameter {', '.join(map(repr, unknown))}; {request.url.path} takes: "
        f"{listed}",
        errors=[FieldProblem("query", name, detail) for name in unknown],
    )


def _known_names(route: BaseRoute | None) -> frozenset[str] | None:
    """The query names (aliases included) a route declares, its dependencies' too."""
    dependant: Dependant | None = getattr(route, "dependant", None)
    if dependant is None:
        return None
    return frozenset(_query_names(dependant))


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names
