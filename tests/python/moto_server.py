"""An S3 server for tests and benchmarks: moto's, on 127.0.0.1:PORT, with atomic conditional writes.

    python3 tests/python/moto_server.py PORT

moto's own server is threaded, and its If-None-Match check and the write after it are two steps
without a lock: two concurrent conditional PUTs of one key can both succeed there (the likely
cause of one acknowledged batch lost in a 3,200-commit run of bench/bench_writers.py --s3),
which AWS S3 does not allow and octavo's commits rely on. Conditional writes are serialised
here, so the server is the atomic store it stands for. `start` launches it in a child process
for tests/python/test_s3.py and bench/bench_writers.py.
"""
import os
import socket
import subprocess
import sys
import time


def start(log_path: str) -> tuple[subprocess.Popen, str]:
    """This server in a child process on a free port, once it accepts connections; returns the
    process and its URL. Its output goes to `log_path`."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(log_path, "w") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), str(port)], stdout=log,
                                stderr=subprocess.STDOUT)
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"the moto server exited (rc {proc.returncode}); see {log_path}") from None
            time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}"


def serve(port: int) -> None:
    import threading

    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def atomic_conditional_writes(environ, start_response):
        if environ.get("HTTP_IF_NONE_MATCH") is None:
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))

    run_simple("127.0.0.1", port, atomic_conditional_writes, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
