"""What routes share: settings, the model registry, metrics, the admission bound, the face
gallery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from service.api.admission import Admission
from service.api.metrics import Metrics
from service.faces import Gallery
from service.pipelines.protocol import Models
from service.settings import Settings


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    models: Models
    metrics: Metrics
    admission: Admission
    gallery: Gallery


async def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(get_context)]
