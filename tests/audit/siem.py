"""SIEM receivers on loopback for the streaming tests, and the worker that feeds them.

`HttpCollector` takes Splunk HEC and NDJSON posts; `SyslogReceiver` takes RFC 5424 messages
over TLS (RFC 5425) with octet-counting frames, answering the sender's close_notify as
RFC 5425 4.4 asks. Both can refuse (stopped), hang, go down and come back on the same port,
and run a hook when a batch has arrived, before they answer.
"""

import json
import socket
import ssl
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import BaseRequestHandler, ThreadingTCPServer

from django.db import connections
from django_tasks_db.management.commands.db_worker import Worker

from tests.servers import free_port

# --- the worker ----------------------------------------------------------------------------


def run_worker(max_tasks=None):
    """The loop `manage.py db_worker --batch` runs: every task that is ready (or `max_tasks`
    of them), then it stops. Without the command's signal handlers, so an interrupt stops a
    task as a crash would."""
    Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=max_tasks,
        worker_id="test-worker",
        excluded_queue_names=[],
    ).run()


def deliver_until(condition, seconds=15):
    """Run the worker until `condition()` holds (retries wait out their delays)."""
    deadline = time.monotonic() + seconds
    while True:
        run_worker()
        if condition():
            return
        assert time.monotonic() < deadline, "the records did not arrive in time"
        time.sleep(0.05)


def in_thread_with_database(function):
    """Run `function` as another worker would: its own thread, its own connection."""

    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    return run


# --- restartable servers ---------------------------------------------------------------------


class Restartable:
    """A server on a fixed loopback port that can go down and come back."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.server = None
        self.delay = 0.0
        self.on_batch = None  # called with the records of each batch, before the answer
        self.batches = []

    def make_server(self):
        raise NotImplementedError

    def start(self):
        self.server = self.make_server()
        self.server.receiver = self
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def stop_soon(self):
        """Go down from inside a handler (shutting down waits for the serving loop)."""
        threading.Thread(target=self.stop, daemon=True).start()

    @property
    def records(self):
        """Every record received, in the order it arrived (repeats included)."""
        return [record for batch in self.batches for record in batch]

    def sequences(self):
        return [record["sequence"] for record in self.records]

    def arrived(self, batch):
        self.batches.append(batch)
        if self.on_batch is not None:
            self.on_batch(batch)
        time.sleep(self.delay)


class _HttpServer(ThreadingHTTPServer):
    block_on_close = False  # a hanging handler must not hold up the test's end
    daemon_threads = True


class HttpCollector(Restartable):
    """A Splunk HEC or NDJSON collector. `statuses`: the answers in turn (the last one
    from then on). `drop`: how many batches to read and then hang up on without an answer
    (an acknowledgement lost on the way)."""

    def __init__(self, port=None, statuses=(200,), certificate=None):
        super().__init__(port)
        self.statuses = list(statuses)
        self.drop = 0
        self.headers = []
        self.bodies = []
        self.context = None
        if certificate is not None:  # HTTPS with the test's certificate
            _, cert_file, key_file = certificate
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(cert_file, key_file)

    @property
    def url(self):
        return f"{'https' if self.context else 'http'}://127.0.0.1:{self.port}"

    def make_server(self):
        server = _HttpServer(("127.0.0.1", self.port), _CollectorHandler)
        if self.context is not None:
            server.socket = self.context.wrap_socket(server.socket, server_side=True)
        return server


class _CollectorHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        collector = self.server.receiver
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        collector.headers.append((self.path, dict(self.headers)))
        collector.bodies.append(body)
        decoder, records, position = json.JSONDecoder(), [], 0
        while position < len(body):  # concatenated JSON objects (HEC) or NDJSON lines
            item, end = decoder.raw_decode(body, position)
            records.append(item["event"] if "sourcetype" in item else item)
            position = end
            while position < len(body) and body[position].isspace():
                position += 1
        collector.arrived(records)
        if collector.drop:
            collector.drop -= 1
            self.close_connection = True
            return
        statuses = collector.statuses
        status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"text":"Success","code":0}')
        except OSError:
            pass  # the portal gave up waiting

    def log_message(self, *args):
        pass


class _TcpServer(ThreadingTCPServer):
    allow_reuse_address = True
    block_on_close = False
    daemon_threads = True


class SyslogReceiver(Restartable):
    """RFC 5425: TLS with the test's certificate, octet-counted RFC 5424 messages.
    `crash_after`: read that many messages of the next connection, then drop it with a
    reset and go down (a receiver that dies mid-stream). `hang`: accept, never speak.
    `confirm`: answer the sender's close_notify (off: hang up without it)."""

    def __init__(self, certificate, port=None):
        super().__init__(port)
        _, cert_file, key_file = certificate
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert_file, key_file)
        self.crash_after = None
        self.hang = False
        self.confirm = True
        self.messages = []

    @property
    def destination(self):
        return f"127.0.0.1:{self.port}"

    def make_server(self):
        return _TcpServer(("127.0.0.1", self.port), _SyslogHandler)


class _SyslogHandler(BaseRequestHandler):
    def handle(self):
        receiver = self.server.receiver
        if receiver.hang:
            time.sleep(5)
            return
        tls = receiver.context.wrap_socket(self.request, server_side=True)
        buffer, records = b"", []
        while True:
            data = tls.recv(65536)
            if not data:  # the sender's close_notify
                break
            buffer += data
            while b" " in buffer:
                length, rest = buffer.split(b" ", 1)
                if len(rest) < int(length):
                    break
                message, buffer = rest[: int(length)], rest[int(length) :]
                receiver.messages.append(message.decode())
                records.append(json.loads(message.decode().split("] ", 1)[1]))
                if receiver.crash_after is not None and len(records) >= receiver.crash_after:
                    receiver.crash_after = None
                    receiver.arrived(records)
                    # A reset, as the kernel sends for a process that died.
                    tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    tls.close()
                    receiver.stop_soon()
                    return
        receiver.arrived(records)
        if receiver.confirm:
            tls.unwrap()  # our close_notify: RFC 5425 4.4
        tls.close()
