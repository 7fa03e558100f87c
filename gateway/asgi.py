"""The served application, as ``tams-gateway serve`` builds it in each of its processes.

With one worker the CLI calls ``serving_app`` itself. With several, ``gateway.supervisor`` starts
fresh interpreters (multiprocessing's spawn) whose uvicorn calls ``app_from_environment``: the
command-line flags reach them as ``TAMS_*`` variables (``settings_environment``), and each reads
the same settings and auth configuration the parent checked.
"""

from __future__ import annotations

import logging
import os

from starlette.applications import Starlette

from gateway.app import create_app
from gateway.auth import AuthSettings
from gateway.cli import tune_garbage_collector
from gateway.config import Settings, load_settings

IMPORT_STRING = "gateway.asgi:app_from_environment"


def serving_app(settings: Settings, auth: AuthSettings) -> Starlette:
    app = create_app(settings, auth=auth)
    tune_garbage_collector()
    logging.basicConfig(level=settings.log_level.upper(), format="%(message)s")
    return app


def app_from_environment() -> Starlette:
    """The factory the worker processes' uvicorn calls (``IMPORT_STRING``)."""
    settings = load_settings()
    return serving_app(settings, AuthSettings.from_env(os.environ, settings.data_dir))


def settings_environment(settings: Settings) -> dict[str, str]:
    """The variables that give a worker process the settings the command line chose."""
    return {
        "TAMS_HOST": settings.host,
        "TAMS_PORT": str(settings.port),
        "TAMS_DATA_DIR": str(settings.data_dir.resolve()),
        "TAMS_CATALOG": settings.catalog,
    }
