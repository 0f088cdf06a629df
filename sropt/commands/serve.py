"""`sropt serve`: a web page and HTTP API around artifacts."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the `serve` command to ``app``."""
    app.command("serve")(serve_command)


def serve_command(
    artifacts: list[str] = typer.Argument(None, help="Registry names, .pb/.onnx/.tflite paths or `sropt run` folders (default: the demo model)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback unless told otherwise)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port (0: any free port)."),
    max_upload_mb: float = typer.Option(10.0, "--max-upload-mb", min=0.001, help="Largest accepted upload (413 above)."),
    max_pixels: int = typer.Option(4_000_000, "--max-pixels", min=1, help="Largest accepted input in pixels (413 above)."),
    workers: int = typer.Option(2, "--workers", min=1, help="Model worker threads."),
    queue: int = typer.Option(8, "--queue", min=0, help="Requests allowed to wait (503 + Retry-After above)."),
    rate: int = typer.Option(120, "--rate", min=1, help="Requests per minute per client (429 above)."),
    timeout: float = typer.Option(60.0, "--timeout", min=0.1, help="Per-request model timeout in seconds (504 above)."),
    body_timeout: float = typer.Option(30.0, "--body-timeout", min=0.1, help="Seconds a client may take to send its upload (408 above)."),
    cache_mb: float = typer.Option(64.0, "--cache-mb", min=0, help="Result cache size."),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="The only folder the server writes to (default: a temp folder)."),
    threads: int = typer.Option(None, "--threads", min=1, help="CPU threads per runtime."),
) -> None:
    """Serve artifacts behind a page and an API.

    Example: sropt serve runs/edsr --port 8000   (then open http://127.0.0.1:8000/)
    """
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import uvicorn

    from sropt.serve.confine import confine_writes

    cache_dir = confine_writes(cache_dir)  # before the runtimes are imported: they read it on import
    from sropt.serve.app import ServeConfig, create_app
    from sropt.serve.models import load_models

    models = load_models(list(artifacts or []), threads)
    for m in models.values():
        typer.echo(f"serving {m.name} ({m.runtime}, sha256 {m.sha256[:12]})", err=True)
    cfg = ServeConfig(max_upload_bytes=int(max_upload_mb * 1024 * 1024), max_pixels=max_pixels, workers=workers, queue=queue,
                      rate_per_minute=rate, timeout_s=timeout, body_timeout_s=body_timeout, cache_bytes=int(cache_mb * 1024 * 1024), cache_dir=cache_dir)
    uvicorn.run(create_app(models, cfg), host=host, port=port, log_level="warning", timeout_keep_alive=5)
