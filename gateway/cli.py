"""The ``tams-gateway`` command: ``serve`` starts the gateway on the configured catalog and data dir."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.config import Settings, check_catalog, load_settings


def tune_garbage_collector() -> None:
    """Fewer, cheaper cyclic collections for a server that builds big responses.

    The objects alive at start (modules, the app) never become garbage, so they are frozen out of
    every full collection; and the youngest generation is collected every 20,000 allocations
    instead of 700, so a 43,200-segment playlist does not trigger dozens of collections. Both took
    a day's VOD playlist from ~250 to ~200 ms (docs/PERFORMANCE.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


def _workers(settings: Settings) -> int:
    """Processes to run: the fake VAST DB lives in one process's memory, so it cannot be shared."""
    if settings.catalog == "vast-fake" and settings.workers > 1:
        logging.getLogger("tams.gateway").warning(
            "TAMS_CATALOG=vast-fake keeps the catalog in one process's memory: serving with 1 worker, not %d",
            settings.workers,
        )
        return 1
    return settings.workers


def _serve(settings: Settings) -> int:
    import os

    import uvicorn

    from gateway.asgi import serving_app, settings_environment
    from gateway.auth import AuthSettings

    # read here too: a bad auth configuration stops the command before any worker starts, and a
    # generated JWT secret is written once, before the workers read it
    auth = AuthSettings.from_env(os.environ, settings.data_dir)
    if not auth.enabled and not settings.loopback and not settings.allow_open:
        print(
            f"refusing to serve without authentication on {settings.host}: configure TAMS_AUTH_* "
            "or set TAMS_ALLOW_OPEN=true",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(message)s")
    workers = _workers(settings)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    print(
        f"TAMS gateway on http://{host}:{settings.port}/  (catalog: {_describe(settings)}, "
        f"auth: {'on' if auth.enabled else 'off'}, {workers} worker{'s' if workers > 1 else ''})",
        flush=True,
    )
    options = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,
        "proxy_headers": True,
    }
    if workers == 1:
        uvicorn.run(serving_app(settings, auth), **options)  # type: ignore[arg-type]  # options are uvicorn's
        return 0
    from gateway.supervisor import Supervisor

    return Supervisor(workers, settings_environment(settings), options).run()


def _describe(settings: Settings) -> str:
    if settings.catalog == "vast":
        return f"VAST DB {settings.vast_endpoint} bucket {settings.vast_bucket}/{settings.vast_schema}"
    if settings.catalog == "vast-fake":
        return f"fake VAST DB for tests (in memory, journaled to {settings.data_dir / 'fake-vast.journal'})"
    return str(settings.sqlite_path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tams-gateway", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the gateway")
    serve.add_argument("--host", help="bind address (TAMS_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="bind port (TAMS_PORT, default 8000)")
    serve.add_argument("--workers", type=int, help="gateway processes (TAMS_WORKERS, default: the number of cores)")
    serve.add_argument("--data-dir", type=Path, help="data directory (TAMS_DATA_DIR, default ./data)")
    serve.add_argument(
        "--catalog",
        choices=("sqlite", "vast", "vast-fake"),
        help="catalog store (TAMS_CATALOG, default sqlite; vast: see docs/VAST.md)",
    )
    ingest = commands.add_parser(
        "ingest",
        help="cut a media file (MPEG-TS, MP4, ...) into MPEG-TS segments on its "
        "key frames and register them; the flow is `ingesting` meanwhile, "
        "`closed_complete` after; run again to resume",
    )
    ingest.add_argument("file", type=Path, help="media with an H.264 (or other) video stream; audio rides along")
    ingest.add_argument("--flow-id", required=True)
    ingest.add_argument("--source-id")
    ingest.add_argument("--segment-seconds", type=float, default=2.0)
    ingest.add_argument("--url", default=None, help="gateway URL (default: TAMS_PUBLIC_URL or the bind address)")
    ingest.add_argument("--token", help="bearer token (or set TAMS_TOKEN)")
    ingest.add_argument("--concurrency", type=int, default=4, help="parallel uploads")
    backup = commands.add_parser("backup", help="copy the SQLite catalog to a file while the gateway runs")
    backup.add_argument("target", type=Path, help="file to write (replaced atomically)")
    backup.add_argument("--data-dir", type=Path, help="data directory (TAMS_DATA_DIR, default ./data)")
    check = commands.add_parser(
        "reconcile",
        help="after a restore: report segments whose bytes are missing "
        "and objects on storage the catalog does not know",
    )
    check.add_argument("--data-dir", type=Path, help="data directory (TAMS_DATA_DIR, default ./data)")
    check.add_argument("--catalog", choices=("sqlite", "vast"), help="catalog store (TAMS_CATALOG)")
    check.add_argument("--delete-orphans", action="store_true", help="delete the unknown objects' bytes")
    check.add_argument(
        "--verify-bytes",
        action="store_true",
        help="read every object with a recorded SHA-256 and report those whose bytes no longer match",
    )
    check.add_argument(
        "--min-age",
        type=float,
        default=3600,
        help="only treat objects older than this many seconds as orphans (default 3600)",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings().with_overrides(
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            workers=getattr(args, "workers", None),
            data_dir=getattr(args, "data_dir", None),
            catalog=getattr(args, "catalog", None),
        )
        check_catalog(settings)
        if settings.workers < 1:
            raise ValueError(f"--workers {settings.workers} must be at least 1")
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings)
    if args.command == "ingest":
        return _ingest(args, settings)
    if args.command == "reconcile":
        return _reconcile(args, settings)
    if args.command == "backup":
        from catalog.sqlite.db import backup as backup_catalog

        try:
            backup_catalog(settings.sqlite_path, args.target)
        except (OSError, RuntimeError) as exc:
            print(f"backup failed: {exc}", file=sys.stderr)
            return 1
        print(f"catalog {settings.sqlite_path} copied to {args.target}")
        return 0
    return 2


def _reconcile(args: argparse.Namespace, settings: Settings) -> int:
    """Runs streaming.objects.reconcile against the configured catalog and storage; prints a JSON report."""
    import asyncio
    import json

    from gateway.catalogs import build_catalog
    from streaming.objects.reconcile import reconcile
    from streaming.storage.registry import build_storage

    async def run() -> dict:
        catalog = build_catalog(settings)
        storage = build_storage(settings.storage_config, settings.data_dir, settings.public_base_url)
        await catalog.start()
        await storage.start()
        try:
            report = await reconcile(
                catalog,
                storage,
                delete_orphans=args.delete_orphans,
                min_age_s=args.min_age,
                verify_bytes=args.verify_bytes,
            )
        finally:
            await storage.close()
            await catalog.close()
        return report.as_dict()

    try:
        report = asyncio.run(run())
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"reconcile failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    return 1 if report["missing_bytes"] or report["mismatched_bytes"] else 0


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    import os

    from gateway.ingest import ingest

    token = args.token or os.environ.get("TAMS_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        report = asyncio.run(
            ingest(
                args.url or settings.public_base_url,
                args.file,
                args.flow_id,
                args.source_id,
                args.segment_seconds,
                args.concurrency,
                headers,
            )
        )
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"ingest failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # httpx errors and the like: say what happened, no traceback
        print(f"ingest failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(
        f"flow {report.flow_id}: {report.segments} segments registered, {report.skipped} already there, "
        f"{report.bytes / 1e6:.1f} MB in {report.seconds:.1f} s; status closed_complete"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
