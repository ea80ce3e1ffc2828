# syntax=docker/dockerfile:1
# Vision inference service. Two targets:
#   docker build -t vision-service .                       # CPU (default target "cpu")
#   docker build --target gpu -t vision-service:gpu .      # CUDA (onnxruntime-gpu)
# Multi-stage: the "wheel" stage alone sees the sources and builds the project's wheel; the
# images install that wheel and copy only the model configs and catalog (.dockerignore keeps
# data/, .venv, tests, docs, mirrors and *.onnx out of the context altogether).
# Models: the default set is pulled at build time from each file's upstream URL, verified by
# sha256 (a derived file is derived from its verified original). Build args: MODELS=default |
# none | NAME ... ; MODELS_SOURCE=http(s) base URL of a mirror (for builds without internet).
# With MODELS=none, mount a models repository at /app/models (deploy/compose.yaml does).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04

# ---------------------------------------------------------------- the wheel
FROM ${PYTHON_IMAGE} AS wheel
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY detection ./detection
COPY service ./service
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /app/wheels .

# ---------------------------------------------------------------- CPU image
FROM ${PYTHON_IMAGE} AS cpu
ARG MODELS=default
ARG MODELS_SOURCE=""
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    VISION_HOST=0.0.0.0 VISION_PORT=8000 VISION_MODELS_DIR=/app/models \
    VISION_GALLERY_PATH=/app/data/gallery.sqlite3
WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app vision
COPY --from=wheel /app/wheels ./wheels
COPY models ./models
RUN pip install --no-cache-dir ./wheels/*.whl && rm -rf ./wheels
RUN case "$MODELS" in \
      none) ;; \
      default) python -m service pull --models-dir /app/models ${MODELS_SOURCE:+--from "$MODELS_SOURCE"} ;; \
      *) python -m service pull --models-dir /app/models ${MODELS_SOURCE:+--from "$MODELS_SOURCE"} $MODELS ;; \
    esac \
 && mkdir -p /app/data && chown -R vision /app/models /app/data
USER vision
# The face gallery (SQLite) and the models: volumes, so they outlive the container.
VOLUME ["/app/data", "/app/models"]
EXPOSE 8000
# Ready, not merely live: healthy only once every model is loaded and warmed.
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s --retries=3 \
  CMD python -c "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/ready' % os.environ.get('VISION_PORT','8000'), timeout=2)"
CMD ["python", "-m", "service", "serve"]

# ---------------------------------------------------------------- GPU image
# CUDA only: onnxruntime-gpu is pinned, and this image carries CUDA and cuDNN but not
# TensorRT's libraries, so TensorRT is unavailable here and not asked for (VISION_PROVIDERS).
# For TensorRT, base CUDA_IMAGE on nvidia/tensorrt and add TensorrtExecutionProvider first.
FROM ${CUDA_IMAGE} AS gpu
ARG MODELS=default
ARG MODELS_SOURCE=""
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    VISION_HOST=0.0.0.0 VISION_PORT=8000 VISION_MODELS_DIR=/app/models \
    VISION_GALLERY_PATH=/app/data/gallery.sqlite3 \
    VISION_PROVIDERS=CUDAExecutionProvider,CPUExecutionProvider \
    VISION_REQUIRE_GPU=true
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app vision
COPY --from=wheel /app/wheels ./wheels
COPY models ./models
# onnxruntime-gpu provides the CUDA execution provider; it replaces the CPU wheel.
RUN pip install --no-cache-dir ./wheels/*.whl && rm -rf ./wheels \
 && pip uninstall -y onnxruntime \
 && pip install --no-cache-dir onnxruntime-gpu==1.20.1
RUN case "$MODELS" in \
      none) ;; \
      default) python -m service pull --models-dir /app/models ${MODELS_SOURCE:+--from "$MODELS_SOURCE"} ;; \
      *) python -m service pull --models-dir /app/models ${MODELS_SOURCE:+--from "$MODELS_SOURCE"} $MODELS ;; \
    esac \
 && mkdir -p /app/data && chown -R vision /app/models /app/data
USER vision
VOLUME ["/app/data", "/app/models"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=180s --retries=3 \
  CMD python -c "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/ready' % os.environ.get('VISION_PORT','8000'), timeout=2)"
CMD ["python", "-m", "service", "serve"]

# The default target is the CPU image.
FROM cpu
