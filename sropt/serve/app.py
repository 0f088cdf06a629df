"""The FastAPI app: the page, /v1/upscale, /v1/models, /healthz, /metrics, and the limits that keep it up."""


import asyncio
import contextlib
import hashlib
import io
import tempfile
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sropt.serve.models import ServedModel

STATIC = Path(__file__).parent / "static"
# Bytes a multipart body may carry beyond the image limit (boundaries and part headers).
MULTIPART_SLACK = 4096
# What both Pillow (the header check) and OpenCV (the decode `sropt upscale` uses) read.
ACCEPTED = "PNG, JPEG, BMP, TIFF, WebP, PPM/PGM"


@dataclass
class ServeConfig:
    """Every limit of the service (CLI options of `sropt serve`)."""

    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 4_000_000
    workers: int = 2
    queue: int = 8
    rate_per_minute: int = 120
    timeout_s: float = 60.0
    cache_bytes: int = 64 * 1024 * 1024
    cache_dir: Path | None = None
    default_tile: int | None = 256
    # A client must send its whole body within this; a slow (or stalled) upload gets 408 instead of holding a slot.
    body_timeout_s: float = 30.0


class HTTPFail(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class ResultCache:
    """Content-hash -> encoded result, least recently used evicted past ``limit`` bytes."""

    def __init__(self, limit: int):
        self.limit, self.size, self.items, self.lock = limit, 0, OrderedDict(), threading.Lock()

    def get(self, key: str):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            return None

    def put(self, key: str, value: tuple[bytes, dict]) -> None:
        n = len(value[0])
        if n > self.limit:
            return
        with self.lock:
            if key in self.items:
                return
            self.items[key] = value
            self.size += n
            while self.size > self.limit:
                _, (old, _h) = self.items.popitem(last=False)
                self.size -= len(old)


class RateLimiter:
    """Per-client token bucket: ``per_minute`` requests, refilled continuously."""

    def __init__(self, per_minute: int):
        self.rate, self.buckets, self.lock = per_minute / 60.0, {}, threading.Lock()
        self.cap = float(per_minute)

    # Buckets kept before the full ones (clients idle long enough to be back at the cap) are dropped.
    max_clients = 10_000

    def allow(self, client: str) -> float:
        """0 when allowed, else the seconds to wait."""
        now = time.monotonic()
        with self.lock:
            if len(self.buckets) >= self.max_clients:
                self.buckets = {c: (t, at) for c, (t, at) in self.buckets.items() if t + (now - at) * self.rate < self.cap}
            tokens, last = self.buckets.get(client, (self.cap, now))
            tokens = min(self.cap, tokens + (now - last) * self.rate)
            if tokens < 1:
                self.buckets[client] = (tokens, now)
                return (1 - tokens) / self.rate
            self.buckets[client] = (tokens - 1, now)
            return 0.0


def decode_upload(data: bytes, max_pixels: int, scratch: Path) -> np.ndarray:
    """uint8 BGR from the bytes (never the name), checked header-first so bombs never decode."""
    from PIL import Image, UnidentifiedImageError

    from sropt.core.errors import InputError
    from sropt.validate.imageio import read_image

    if not data:
        raise HTTPFail(400, f"empty body: send an image ({ACCEPTED}).")
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise HTTPFail(413, f"image is {w}x{h} = {w * h} px; this server accepts at most {max_pixels} px.")
            if w == 0 or h == 0:
                raise HTTPFail(400, f"image is {w}x{h}: empty.")
            im.load()  # full decode: a truncated file fails here, before the model
    except HTTPFail:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own bomb guard fires in open(), before our check
        raise HTTPFail(413, f"image header declares more pixels than this server accepts (at most {max_pixels} px): {exc}") from None
    except UnidentifiedImageError:  # its message names only the BytesIO object
        raise HTTPFail(400, f"not an image this server can read; send one of: {ACCEPTED}.") from None
    except Exception as exc:  # truncated/malformed data raises OSError, SyntaxError, ValueError...
        raise HTTPFail(400, f"malformed or truncated image: {exc}.") from None
    # Same reading and conversions (16-bit, gray, alpha) as `sropt upscale`, via a scratch file in the cache folder.
    with tempfile.NamedTemporaryFile(dir=scratch, suffix=".img") as f:
        f.write(data)
        f.flush()
        try:
            return read_image(Path(f.name), max_pixels=None).bgr
        except InputError as exc:
            raise HTTPFail(400, f"cannot decode this image: {exc}".replace(f.name, "upload")) from None


def encode_result(bgr: np.ndarray, fmt: str, quality: int) -> tuple[bytes, str]:
    """PNG, or JPEG at ``quality``, encoded by OpenCV as `sropt upscale -o x.png|x.jpg` does (its JPEG: quality 95)."""
    import cv2

    if fmt == "png":
        return cv2.imencode(".png", bgr)[1].tobytes(), "image/png"
    if fmt in ("jpeg", "jpg"):
        return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes(), "image/jpeg"
    raise HTTPFail(400, f"format {fmt!r}: choose png or jpeg.")


class Metrics:
    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("sropt_requests_total", "Upscale requests", ["artifact", "code"], registry=self.registry)
        self.errors = Counter("sropt_errors_total", "Upscale requests answered 4xx/5xx", ["artifact", "code"], registry=self.registry)
        self.latency = Histogram("sropt_model_latency_seconds", "Model time per request", ["artifact"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.queue = Gauge("sropt_queue_depth", "Requests waiting or running", registry=self.registry)
        self.cache_hits = Counter("sropt_cache_hits_total", "Results served from the cache", ["artifact"], registry=self.registry)


@dataclass
class Upscaled:
    """One request's result, made on a worker thread."""

    payload: bytes
    content_type: str
    seconds: float  # model time only (not decode/encode): the X-Latency-Ms header and the histogram
    lr_shape: tuple[int, ...]
    sr_shape: tuple[int, ...]


def process_upload(model: ServedModel, data: bytes, cfg: ServeConfig, scratch: Path, fmt: str, quality: int,
                   tile: int | None, overlap: int | None) -> Upscaled:
    """Decode, upscale and encode one upload (a worker thread's whole job for one request)."""
    from sropt.validate.inference import upscale_image

    lr = decode_upload(data, cfg.max_pixels, scratch)
    with model.lock:
        t0 = time.perf_counter()
        sr = upscale_image(model.runner, lr, tile=tile, overlap=overlap)
        seconds = time.perf_counter() - t0
    payload, ctype = encode_result(sr, fmt, quality)
    return Upscaled(payload, ctype, seconds, lr.shape, sr.shape)


def create_app(models: dict[str, ServedModel], config: ServeConfig | None = None):
    """The ASGI app serving ``models`` (already loaded and probed) under ``config``'s limits."""
    from fastapi import FastAPI, Request
    from fastapi.responses import FileResponse, JSONResponse, Response

    cfg = config or ServeConfig()
    scratch = Path(cfg.cache_dir or tempfile.mkdtemp(prefix="sropt-serve-"))
    scratch.mkdir(parents=True, exist_ok=True)
    metrics = Metrics()
    upscaler = _Upscaler(models, cfg, scratch, metrics)
    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        upscaler.pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="sropt serve", description="Super-resolution with sropt artifacts.", version="1", lifespan=lifespan)
    app.state.config, app.state.models, app.state.scratch, app.state.upscaler = cfg, models, scratch, upscaler

    @app.exception_handler(HTTPFail)
    async def _fail(request: Request, exc: HTTPFail):
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "models": len(models)}

    @app.get("/v1/models")
    async def list_models():
        return {"models": [m.describe() for m in models.values()]}

    @app.get("/metrics")
    async def prom():
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/upscale", responses={200: {"content": {"image/png": {}, "image/jpeg": {}}}})
    async def upscale(request: Request, artifact: str | None = None, format: str = "png", quality: int = 90,
                      tile: int | None = None, overlap: int | None = None):
        """Upscale one image (multipart field `image`, or the raw body); headers give model, runtime, latency, tiling."""
        name = artifact or next(iter(models))
        try:
            resp = await upscaler(request, name, format, quality, tile, overlap)
            metrics.requests.labels(name, "200").inc()
            return resp
        except HTTPFail as exc:
            metrics.requests.labels(name if name in models else "unknown", str(exc.status)).inc()
            metrics.errors.labels(name if name in models else "unknown", str(exc.status)).inc()
            raise

    return app


class _Upscaler:
    """POST /v1/upscale: the checks (cheapest first), the result cache, the bounded queue, the model run."""

    def __init__(self, models: dict[str, ServedModel], cfg: ServeConfig, scratch: Path, metrics: Metrics) -> None:
        self.models, self.cfg, self.scratch, self.metrics = models, cfg, scratch, metrics
        self.pool = ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="sropt-serve")
        self.cache, self.limiter = ResultCache(cfg.cache_bytes), RateLimiter(cfg.rate_per_minute)
        self.inflight = 0

    async def __call__(self, request, name, fmt, quality, tile, overlap):
        from fastapi.responses import Response

        tile, overlap = self.checked_request(request, name, fmt, quality, tile, overlap)
        data = await self.read_body(request)
        key = hashlib.sha256(data + f"|{name}|{fmt}|{quality}|{tile}|{overlap}".encode()).hexdigest()
        hit = self.cache.get(key)
        if hit:
            self.metrics.cache_hits.labels(name).inc()
            return Response(hit[0], media_type=hit[1]["content-type"], headers={**hit[1]["headers"], "X-Cache": "hit"})
        payload, ctype, headers = await self.run(name, data, fmt, quality, tile, overlap)
        self.cache.put(key, (payload, {"content-type": ctype, "headers": headers}))
        return Response(payload, media_type=ctype, headers={**headers, "X-Cache": "miss"})

    def checked_request(self, request, name, fmt, quality, tile, overlap) -> tuple[int | None, int | None]:
        """Refuse what can be refused before reading the body; returns the tile and overlap to use."""
        cfg = self.cfg
        if name not in self.models:
            raise HTTPFail(404, f"unknown artifact {name!r}; served: {', '.join(self.models)} (GET /v1/models).")
        wait = self.limiter.allow(request.client.host if request.client else "?")
        if wait:
            raise HTTPFail(429, f"rate limit of {cfg.rate_per_minute} requests/minute reached; retry in {wait:.0f} s.",
                           {"Retry-After": str(max(1, round(wait)))})
        if fmt not in ("png", "jpeg", "jpg") or not 1 <= quality <= 100:
            raise HTTPFail(400, f"format={fmt} quality={quality}: use png, or jpeg with quality 1-100.")
        tile = tile if tile is not None else cfg.default_tile
        if tile:
            from sropt.core.errors import InputError
            from sropt.validate.tiling import check_tiling, tiling_margin
            try:  # the overlap defaults to, and may not be below, the model's receptive field
                overlap = check_tiling(tile, overlap, tiling_margin(self.models[name].runner.artifact))
            except InputError as exc:
                raise HTTPFail(400, str(exc)) from None
        return tile, overlap

    async def read_body(self, request) -> bytes:
        """The uploaded image's bytes (raw body or multipart field); 413 past the limit, 408 past the body deadline."""
        limit = self.cfg.max_upload_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit + MULTIPART_SLACK:
            raise HTTPFail(413, f"upload is {declared} bytes; this server accepts at most {limit} bytes.")
        try:
            body = await asyncio.wait_for(self._read_limited(request, limit), self.cfg.body_timeout_s)
        except asyncio.TimeoutError:
            raise HTTPFail(408, f"the upload did not arrive within {self.cfg.body_timeout_s:g} s; send it again.") from None
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            body = _multipart_image(body, ctype)
        if len(body) > limit:
            raise HTTPFail(413, f"image is {len(body)} bytes; this server accepts at most {limit} bytes.")
        return body

    @staticmethod
    async def _read_limited(request, limit: int) -> bytes:
        chunks, n = [], 0
        async for chunk in request.stream():
            n += len(chunk)
            if n > limit + MULTIPART_SLACK:
                raise HTTPFail(413, f"upload exceeds {limit} bytes, the limit of this server.")
            chunks.append(chunk)
        return b"".join(chunks)

    async def run(self, name, data, fmt, quality, tile, overlap) -> tuple[bytes, str, dict[str, str]]:
        """Decode, upscale and encode on the worker pool, within the queue bound and the timeout.

        A slot is held until the worker's job really ends, not until the
        client is answered: a job that timed out keeps running on its thread
        (threads cannot be stopped), and freeing its slot at the 504 would let
        timed-out jobs pile up in the pool's unbounded queue.
        """
        cfg, metrics = self.cfg, self.metrics
        if self.inflight >= cfg.workers + cfg.queue:
            raise HTTPFail(503, f"busy: {self.inflight} requests in progress; retry shortly.", {"Retry-After": "1"})
        loop = asyncio.get_running_loop()
        self.inflight += 1
        metrics.queue.set(self.inflight)
        job = self.pool.submit(process_upload, self.models[name], data, cfg, self.scratch, fmt, quality, tile, overlap)
        job.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release))
        try:  # on timeout wrap_future cancels the job if it has not started yet
            done = await asyncio.wait_for(asyncio.wrap_future(job), cfg.timeout_s)
        except asyncio.TimeoutError:
            raise HTTPFail(504, f"the request took longer than {cfg.timeout_s:g} s; try a smaller image.") from None
        metrics.latency.labels(name).observe(done.seconds)
        m = self.models[name]
        lr_h, lr_w = done.lr_shape[:2]
        tiling = f"tile={tile},overlap={overlap}" if tile and max(lr_h, lr_w) > tile else "none"
        headers = {"X-Model": name, "X-Model-Sha256": m.sha256, "X-Runtime": m.runtime,
                   "X-Latency-Ms": f"{done.seconds * 1000:.1f}", "X-Tiling": tiling,
                   "X-Input-Size": f"{lr_w}x{lr_h}", "X-Output-Size": f"{done.sr_shape[1]}x{done.sr_shape[0]}"}
        return done.payload, done.content_type, headers

    def _release(self) -> None:
        self.inflight -= 1
        self.metrics.queue.set(self.inflight)


def _multipart_image(body: bytes, ctype: str) -> bytes:
    """The `image` (or first file) part of a multipart body; 400 when the body is not valid multipart."""
    from python_multipart.multipart import parse_options_header
    from python_multipart import MultipartParser

    _, params = parse_options_header(ctype)
    boundary = params.get(b"boundary")
    if not boundary:
        raise HTTPFail(400, "multipart body without a boundary.")
    parts, cur = [], {}

    def on_part_begin():
        cur.clear(); cur["data"] = []
    def on_part_data(d, s, e):
        cur["data"].append(d[s:e])
    def on_part_end():
        parts.append(b"".join(cur["data"]))

    try:
        p = MultipartParser(boundary, {"on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end})
        p.write(body)
        p.finalize()
    except Exception as exc:
        raise HTTPFail(400, f"malformed multipart body: {exc}.") from None
    if not parts:
        raise HTTPFail(400, "malformed multipart body: no file part (send the image as field 'image').")
    return parts[0]
