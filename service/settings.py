"""Process-wide settings, read from ``VISION_*`` environment variables (one flat class).

Each field's description is the documentation: the README's configuration table is generated
from them, so they say what a value means and what it defaults to, in a sentence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

GraphOptimization = Literal["disable", "basic", "extended", "all"]

DEFAULT_PROVIDERS = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CPUExecutionProvider",
)


class Settings(BaseSettings):
    """Everything the service reads from its environment; ``VISION_<FIELD>`` sets a field."""

    # A refused value is not echoed: VISION_GALLERY_URL and VISION_API_KEY hold secrets, and a
    # start-up error lands in logs. The message still names the variable and what is wrong.
    model_config = SettingsConfigDict(
        env_prefix="VISION_", extra="forbid", hide_input_in_errors=True
    )

    # -- model repository ------------------------------------------------------------------
    models_dir: Path = Field(
        default=Path("models"),
        description="Model repository: one folder per model with model.onnx, model.toml, labels.",
    )
    models_source: str | None = Field(
        default=None,
        description="Mirror for `pull`: a directory or HTTP base URL holding the catalog's files "
        "under their file names; unset = each file's source URL from the catalog.",
    )
    models_watch_s: float = Field(
        default=2.0,
        ge=0,
        description="Seconds between looks at the models folder: a model pulled or added while "
        "the server runs is loaded without a restart; 0 = only on POST /models/reload.",
    )

    # -- execution providers ----------------------------------------------------------------
    providers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_PROVIDERS),
        min_length=1,
        description="onnxruntime execution providers in order of preference, comma-separated; "
        "those this onnxruntime build lacks are skipped.",
    )
    require_gpu: bool = Field(
        default=False,
        description="Refuse to start when a model would run on the CPU only, instead of warning.",
    )
    device_id: int = Field(
        default=0, ge=0, description="GPU ordinal for the CUDA and TensorRT providers."
    )
    trt_engine_cache_dir: Path | None = Field(
        default=None,
        description="Directory where TensorRT keeps built engines across restarts; unset = no "
        "cache (engines are rebuilt at every start).",
    )
    trt_fp16: bool = Field(default=False, description="Let TensorRT build float16 engines.")
    cuda_options: dict[str, str] = Field(
        default_factory=dict,
        description="Extra CUDA provider options as a JSON object, passed to onnxruntime as is "
        '(e.g. {"cudnn_conv_algo_search": "HEURISTIC"}).',
    )
    tensorrt_options: dict[str, str] = Field(
        default_factory=dict,
        description="Extra TensorRT provider options as a JSON object, passed to onnxruntime as "
        "is; they override the ones derived from the settings above.",
    )

    # -- session options --------------------------------------------------------------------
    intra_op_threads: int = Field(
        default=0,
        ge=0,
        description="Threads of one onnxruntime run while runs overlap; 0 = 1. "
        "Rule: threads x inference_concurrency <= cores.",
    )
    inter_op_threads: int = Field(
        default=0,
        ge=0,
        description="Threads running independent operators (parallel execution mode only); 0 = 1.",
    )
    ort_spinning: bool = Field(
        default=False,
        description="Let the threads of overlapping runs busy-wait between operators (a lone "
        "run's threads always do, see lone_run_threads); slows overlapping requests down.",
    )
    lone_run_threads: int = Field(
        default=0,
        ge=0,
        description="Spinning threads of a CPU run that finds no other run going or waiting; it "
        "uses a second session of the model (memory for a second copy of the weights) and holds "
        "every turn. 0 = every usable core (CPU affinity, capped by a cgroup CPU quota); "
        "intra_op_threads or fewer = no second session.",
    )
    inference_concurrency: int = Field(
        default=0,
        ge=0,
        description="onnxruntime runs on the CPU at once, all models together; more wait their "
        "turn. 0 = usable cores / intra_op_threads.",
    )
    graph_optimization: GraphOptimization = Field(
        default="all",
        description="onnxruntime graph optimisation level: disable, basic, extended, all.",
    )
    enable_cpu_mem_arena: bool = Field(
        default=True,
        description="Keep onnxruntime's CPU memory arena, one for every session of the process "
        "(faster; holds on to peak memory).",
    )
    ort_log_severity: int = Field(
        default=3,
        ge=0,
        le=4,
        description="Lowest onnxruntime log level printed: 0 verbose, 1 info, 2 warning, "
        "3 error, 4 fatal (3 hides e.g. unused-initializer warnings).",
    )
    batch_max: int = Field(
        default=1,
        ge=1,
        description="Most images one run takes when concurrent requests of one model are "
        "batched (models whose ONNX input and outputs have a dynamic batch axis); 1 = off.",
    )
    batch_wait_ms: float = Field(
        default=2.0,
        ge=0,
        le=100,
        description="Milliseconds the oldest request of a batch waits for companions of the "
        "same shape; 0 = only those that queued while the previous batch ran.",
    )

    # -- HTTP -------------------------------------------------------------------------------
    host: str = Field(
        default="127.0.0.1",
        description="Address to listen on (0.0.0.0 in a container to be reachable).",
    )
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port to listen on.")
    grpc_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of the Open Inference Protocol's gRPC service (KServe v2 / Triton) "
        "on the same host; unset = no gRPC. Needs the grpc extra.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="When set, every route except /health/* requires this value in X-API-Key.",
    )
    max_body_bytes: int = Field(
        default=20 * 1024 * 1024, gt=0, description="Largest request body accepted (413 above it)."
    )
    max_pixels: int = Field(
        default=40_000_000,
        gt=0,
        description="Largest decoded image, width x height (422 above it).",
    )
    max_concurrency: int = Field(
        default=0,
        ge=0,
        description="Requests decoding, running or post-processing at once; more wait in a "
        "queue. 0 = twice the usable cores.",
    )
    thread_pool_size: int = Field(
        default=0,
        ge=0,
        description="The server's worker threads for blocking work; 0 = max_concurrency plus "
        "the usable cores.",
    )
    max_queue: int = Field(
        default=64, ge=0, description="Requests allowed to wait; beyond it, 503 with Retry-After."
    )
    max_decoded_bytes: int = Field(
        default=160 * 1024 * 1024,
        gt=0,
        description="Largest decoded image in memory, width x height x bytes per pixel of its "
        "decoded mode, checked from the header (422 above it); max_concurrency times this, "
        "plus the models, must fit the container's memory.",
    )
    fast_decode: bool = Field(
        default=False,
        description="Decode large JPEGs at a reduced DCT scale (1/2, 1/4, 1/8) still covering "
        "the model's resized input: several times faster on photos of many megapixels, but not "
        "the same pixels; boxes stay in the original's pixels. Per model: [input] fast_decode.",
    )
    max_inflight_body_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="Bytes of request bodies read or held at once, all requests together; a "
        "request waits, its body unread, until its Content-Length fits.",
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a connection may take to send a request's headers (from opening, "
        "or from the previous answer); then it is closed.",
    )
    body_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a request may take to deliver its whole body once reading starts "
        "(408 after it).",
    )
    max_connections: int = Field(
        default=1024,
        ge=1,
        description="Open connections and requests served at once; beyond it uvicorn answers "
        "503 (plain text) at once.",
    )
    graceful_shutdown_s: float = Field(
        default=30.0,
        ge=0,
        description="On SIGTERM, seconds to let requests in flight finish before closing.",
    )
    stylize_max_side: int = Field(
        default=2048,
        ge=32,
        description="Largest max_side a /stylize request may ask for (422 above it); the "
        "fixed-style network needs about 0.7 GB of memory per request at 1024x1024.",
    )

    # -- face gallery -----------------------------------------------------------------------
    gallery_path: Path = Field(
        default=Path("data/gallery.sqlite3"),
        description="SQLite file of the face gallery (created if absent; WAL mode).",
    )
    max_enrol_images: int = Field(
        default=16, ge=1, le=256, description="Most images one POST /faces may enrol."
    )
    gallery_keep_crops: bool = Field(
        default=False,
        description="Also store the aligned 112x112 crop of every enrolled face (biometric "
        "data: a photo of the face) so that GET /api/v1/recognition/faces/{id}/img can return "
        "it and `python -m service gallery reembed` can move the gallery to a new embedder.",
    )
    gallery_url: SecretStr | None = Field(
        default=None,
        description="postgresql://user:password@host:port/database of a face gallery shared by "
        "replicas (writes reach every replica within about a second); unset = the SQLite file "
        "at gallery_path.",
    )
    gallery_pool_size: int = Field(
        default=4,
        ge=1,
        description="Most connections one replica opens to the PostgreSQL gallery (plus one that "
        "listens for other replicas' writes).",
    )
    gallery_tombstone_days: float = Field(
        default=7.0,
        ge=1,
        le=3650,
        description="Days a deleted face's tombstone is kept so that replicas catch up by "
        "applying changes; older ones are pruned at start-up and by each deletion, and a replica "
        "further behind than that reloads the whole gallery.",
    )

    # -- DeepStack / CodeProject.AI and CompreFace compatibility ----------------------------
    custom_model_aliases: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Extra names for /v1/vision/custom/{name}: name=model[:label|label,...], "
        "comma-separated; an empty model is the default detector. CodeProject.AI's ipcam-general, "
        "ipcam-dark, ipcam-animal and ipcam-combined are mapped by default.",
    )
    deepstack_max_predictions: int | None = Field(
        default=None,
        ge=1,
        description="Most predictions a /v1/vision detection answer holds (the best ones); "
        "unset = all. Set 20 for Frigate's deepstack detector, which fails on more.",
    )

    @field_validator("gallery_url")
    @classmethod
    def _postgres_only(cls, value: SecretStr | None) -> SecretStr | None:
        """Only PostgreSQL is shared; a typo must not fall back to a private SQLite file."""
        if value is not None and not value.get_secret_value().startswith(
            ("postgresql://", "postgres://")
        ):
            raise ValueError("must be a postgresql:// URL (unset it to use the SQLite file)")
        return value

    @field_validator("custom_model_aliases", mode="before")
    @classmethod
    def _split_aliases(cls, value: Any) -> Any:
        """``ipcam-general=yolox_nano,plates=lpr`` → a dict."""
        if isinstance(value, str):
            entries: dict[str, str] = {}
            for entry in filter(str.strip, value.split(",")):
                name, equals, target = entry.partition("=")
                if not equals or not name.strip():
                    raise ValueError(f"{entry.strip()!r} is not name=model[:label|label]")
                entries[name.strip()] = target.strip()
            return entries
        return value

    @field_validator("providers", mode="before")
    @classmethod
    def _split_providers(cls, value: Any) -> Any:
        """``VISION_PROVIDERS=CUDAExecutionProvider,CPUExecutionProvider`` → a list."""
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value
