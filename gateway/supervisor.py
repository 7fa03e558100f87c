"""``serve --workers N``: N uvicorn processes on one port, each with its own listening socket.

uvicorn's own multi-process mode shares one listening socket, and whichever worker wakes first
accepts every connection waiting: of 32 connections opened at once, one worker took 27 (counted
on the 2-core machine), so the second process sat mostly idle. Here each worker binds the port
itself with ``SO_REUSEPORT`` and the kernel spreads new connections over the workers' sockets by
a hash of their addresses. The supervisor holds the port bound (not listening: it takes no
connections) so that port 0 resolves once and the port stays ours while a worker is replaced.

Workers are fresh interpreters (multiprocessing's spawn) that build the app from the environment
(``gateway.asgi.app_from_environment``). One that dies is replaced; one that fails its start-up
stops the whole command (it would fail again). SIGTERM or SIGINT stops the workers gracefully.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("tams.gateway")
STARTUP_FAILURE = 3  # uvicorn's exit code when the app's start-up fails
STOP_GRACE_S = 20


def reuse_port_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def run_worker(environment: dict[str, str], options: dict[str, Any]) -> None:
    """One worker process: its own socket on the shared port, then uvicorn serving the app factory."""
    import uvicorn

    from gateway.asgi import IMPORT_STRING

    os.environ.update(environment)
    sock = reuse_port_socket(options["host"], options["port"])
    sock.listen(2048)
    server = uvicorn.Server(uvicorn.Config(IMPORT_STRING, factory=True, **options))
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class Supervisor:
    def __init__(self, workers: int, environment: dict[str, str], options: dict[str, Any]) -> None:
        self.workers = workers
        self.environment = environment
        self.options = options
        self._context = multiprocessing.get_context("spawn")
        self._stop = threading.Event()

    def _spawn(self) -> BaseProcess:
        process = self._context.Process(
            target=run_worker, args=(self.environment, self.options), name="tams-gateway-worker"
        )
        process.start()
        return process

    def run(self) -> int:
        reserved = reuse_port_socket(self.options["host"], self.options["port"])
        self.options = {**self.options, "port": reserved.getsockname()[1]}
        self.environment = {**self.environment, "TAMS_PORT": str(self.options["port"])}
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stop.set())
        processes = [self._spawn() for _ in range(self.workers)]
        status = 0
        try:
            while not self._stop.wait(0.5):
                for index, process in enumerate(processes):
                    if process.is_alive():
                        continue
                    if process.exitcode == STARTUP_FAILURE:
                        log.error("worker %s failed to start; stopping", process.pid)
                        self._stop.set()
                        status = 1
                        break
                    log.warning("worker %s exited (%s); starting another", process.pid, process.exitcode)
                    processes[index] = self._spawn()
        finally:
            for process in processes:
                if process.is_alive():
                    process.terminate()  # SIGTERM: uvicorn finishes requests and runs the shutdown
            for process in processes:
                process.join(STOP_GRACE_S)
                if process.is_alive():
                    process.kill()
                    process.join()
            reserved.close()
        return status
