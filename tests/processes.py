"""Talking to one chosen worker of a multi-process gateway (Linux ``/proc``; no extra packages).

The kernel hands each new connection to whichever worker accepts it first. ``Pinned`` connects
until the connection lands in the wanted worker, found by the accepted socket's inode among that
process's file descriptors, and then keeps that one keep-alive connection.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from pathlib import Path
from typing import Any


def child_pids(parent: int) -> list[int]:
    """Worker processes started by multiprocessing (its resource tracker, also a child, is left out)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"spawn_main" in command:  # field 4: ppid
                children.append(int(entry.name))
    return sorted(children)


def _socket_inodes(server_port: int, client_port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.rsplit(":", 1)[1], 16) == server_port and int(remote.rsplit(":", 1)[1], 16) == client_port:
                inodes.add(f"socket:[{fields[9]}]")
    return inodes


def owner(pids: list[int], server_port: int, client_port: int) -> int | None:
    """Which of ``pids`` holds the server side of the connection from ``client_port``."""
    inodes = _socket_inodes(server_port, client_port)
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in inodes:
                    return pid
            except OSError:
                continue
    return None


class Pinned:
    """An HTTP/1.1 keep-alive connection to the worker ``pid`` of the gateway on ``port``."""

    def __init__(self, port: int, pid: int, workers: list[int], attempts: int = 400) -> None:
        self.pid = pid
        for _ in range(attempts):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.connect()
            client_port = conn.sock.getsockname()[1]
            landed = None
            for _ in range(100):  # the worker accepts it a moment after the kernel does
                landed = owner(workers, port, client_port)
                if landed is not None:
                    break
                time.sleep(0.01)
            if landed == pid:
                self.conn = conn
                return
            conn.close()
        raise RuntimeError(f"no connection landed in worker {pid} in {attempts} tries")

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, data = self.request(method, path, body)
        return status, json.loads(data) if data else None

    def close(self) -> None:
        self.conn.close()
