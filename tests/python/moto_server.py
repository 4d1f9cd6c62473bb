"""An S3 server for tests and benchmarks: moto's, on 127.0.0.1:PORT, with atomic conditional writes.

    python3 tests/python/moto_server.py PORT

moto's own server is threaded, and its If-None-Match check and the write after it are two steps
without a lock: two concurrent conditional PUTs of one key can both succeed there (the likely
cause of one acknowledged batch lost in a 3,200-commit run of bench/bench_writers.py --s3),
which AWS S3 does not allow and octavo's commits rely on. Conditional writes are serialised
here, so the server is the atomic store it stands for. Used by tests/python/test_s3.py and
bench/bench_writers.py.
"""
import sys
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


if __name__ == "__main__":
    run_simple("127.0.0.1", int(sys.argv[1]), atomic_conditional_writes, threaded=True,
               request_handler=MotoRequestHandler)
