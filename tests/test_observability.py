"""Health, readiness, metrics by route template and JSON access logs."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from conftest import ROOT, new_id, video_flow


def test_health_and_ready(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    assert client.head("/readyz").status_code == 200


def test_metrics_use_route_templates_and_catalog_sizes(client):
    for _ in range(2):
        flow_id = new_id()
        client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))
        client.get(f"/flows/{flow_id}")
    client.get("/nowhere")
    text = client.get("/metrics").text
    assert 'tams_http_requests_total{method="GET",route="/flows/{flowId}",status="200"} 2.0' in text
    assert 'route="<unmatched>",status="404"' in text
    assert 'tams_http_request_duration_seconds_count{method="PUT",route="/flows/{flowId}"} 2.0' in text
    assert 'tams_catalog_objects{kind="flows"} 2.0' in text
    assert "tams_http_requests_in_flight 1.0" in text  # the scrape itself


def test_access_log_lines(client, caplog):
    with caplog.at_level(logging.INFO, logger="tams.access"):
        response = client.get("/flows?access_token=secret", headers={"X-Request-ID": "abc-123"})
        generated = client.get("/service", headers={"X-Request-ID": "bad id with spaces"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert generated.headers["X-Request-ID"] != "bad id with spaces"
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tams.access"]
    first = lines[0]
    assert first["path"] == "/flows" and first["route"] == "/flows" and first["status"] == 200
    assert first["request_id"] == "abc-123" and first["principal"] == "anonymous"
    assert all("secret" not in json.dumps(line) for line in lines)


@pytest.mark.slow
def test_serve_refuses_open_non_loopback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "refusing to serve without authentication" in result.stderr
