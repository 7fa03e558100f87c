"""Builds the configured catalog store: SQLite (embedded default) or VAST DB."""

from __future__ import annotations

from catalog.store import Catalog
from gateway.config import Settings


def build_catalog(settings: Settings) -> Catalog:
    if settings.catalog in ("vast", "vast-fake"):
        try:
            from catalog.vast import VastCatalog
        except ImportError as exc:  # the SDK is an optional extra
            raise RuntimeError("TAMS_CATALOG=vast needs the vastdb SDK: pip install 'tams-gateway[vast]'") from exc
        if settings.catalog == "vast-fake":
            from catalog.vast.fake import FakeVast

            # journaled in the data dir, so the fake survives a restart like a real cluster would
            return VastCatalog(
                FakeVast(journal=settings.data_dir / "fake-vast.journal"), workers=settings.vast_sessions
            )
        from catalog.vast.connection import VastConnection, VastSettings

        connection = VastConnection(
            VastSettings(
                endpoint=settings.vast_endpoint or "",
                access_key=settings.vast_access_key or "",
                secret_key=settings.vast_secret_key or "",
                bucket=settings.vast_bucket or "",
                schema=settings.vast_schema,
                data_endpoints=settings.vast_data_endpoints,
                sessions=settings.vast_sessions,
            )
        )
        return VastCatalog(connection, workers=settings.vast_sessions)
    from catalog.sqlite import SQLiteCatalog

    return SQLiteCatalog(settings.sqlite_path, readers=settings.sqlite_readers, loop_reads=settings.sqlite_loop_reads)
