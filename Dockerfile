# syntax=docker/dockerfile:1
# Vision inference service. Two targets:
#   docker build -t vision-service .                       # CPU (default target "cpu")
#   docker build --target gpu -t vision-service:gpu .      # CUDA / TensorRT (onnxruntime-gpu)
# Models are pulled at build time, verified by sha256, from MODELS_SOURCE: a mirror URL, or a
# directory inside the build context (e.g. a copy of shared/models). Leave it empty to pull from
# each model's upstream URL, or pass --build-arg PULL_MODELS=0 and mount a repository at
# /app/models at run time instead.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04

# ---------------------------------------------------------------- CPU image
FROM ${PYTHON_IMAGE} AS cpu
ARG MODELS_SOURCE=""
ARG PULL_MODELS=1
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    VISION_HOST=0.0.0.0 VISION_PORT=8000 VISION_MODELS_DIR=/app/models \
    VISION_GALLERY_PATH=/app/data/gallery.sqlite3
WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app vision
COPY pyproject.toml README.md ./
COPY detection ./detection
COPY service ./service
COPY models ./models
RUN pip install --no-cache-dir .
COPY . /tmp/context
RUN if [ "$PULL_MODELS" = "1" ]; then \
      src="$MODELS_SOURCE"; \
      case "$src" in ""|http://*|https://*) ;; *) src="/tmp/context/$src" ;; esac; \
      python -m service pull --models-dir /app/models ${src:+--from "$src"}; \
    fi \
 && rm -rf /tmp/context && mkdir -p /app/data && chown -R vision /app/models /app/data
USER vision
# The face gallery (SQLite): mount a volume here to keep it across containers.
VOLUME /app/data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
  CMD python -c "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('VISION_PORT','8000'), timeout=2)"
CMD ["python", "-m", "service", "serve"]

# ---------------------------------------------------------------- GPU image
FROM ${CUDA_IMAGE} AS gpu
ARG MODELS_SOURCE=""
ARG PULL_MODELS=1
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    VISION_HOST=0.0.0.0 VISION_PORT=8000 VISION_MODELS_DIR=/app/models \
    VISION_GALLERY_PATH=/app/data/gallery.sqlite3 \
    VISION_REQUIRE_GPU=true \
    VISION_TRT_ENGINE_CACHE_DIR=/data/trt-cache
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app vision \
 && mkdir -p /data/trt-cache && chown -R vision /data
COPY pyproject.toml README.md ./
COPY detection ./detection
COPY service ./service
COPY models ./models
# onnxruntime-gpu provides the CUDA and TensorRT execution providers; it replaces the CPU wheel.
RUN pip install --no-cache-dir . \
 && pip uninstall -y onnxruntime \
 && pip install --no-cache-dir onnxruntime-gpu
COPY . /tmp/context
RUN if [ "$PULL_MODELS" = "1" ]; then \
      src="$MODELS_SOURCE"; \
      case "$src" in ""|http://*|https://*) ;; *) src="/tmp/context/$src" ;; esac; \
      python -m service pull --models-dir /app/models ${src:+--from "$src"}; \
    fi \
 && rm -rf /tmp/context && mkdir -p /app/data && chown -R vision /app/models /app/data
USER vision
# The face gallery (SQLite): mount a volume here to keep it across containers.
VOLUME /app/data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=120s --retries=3 \
  CMD python -c "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('VISION_PORT','8000'), timeout=2)"
CMD ["python", "-m", "service", "serve"]

# The default target is the CPU image.
FROM cpu
