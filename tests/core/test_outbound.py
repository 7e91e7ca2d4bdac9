"""Requests to hosts people chose: a refused connection says so, and a host with a
certificate from a company's own CA is trusted with that CA only."""

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core import outbound
from tests.servers import free_port, self_signed_certificate


class Ok(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def private_ca_host(tmp_path):
    """An HTTPS server on 127.0.0.1 whose certificate no public authority signed."""
    pem, cert_file, key_file = self_signed_certificate(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield pem, f"https://127.0.0.1:{server.server_port}/in"
    server.shutdown()
    server.server_close()


def post(url, **options):
    return outbound.send(
        "POST", url, addresses=["127.0.0.1"], headers={}, body=b"{}", timeout=2, **options
    )


def test_a_refused_connection_is_not_reported_as_a_timeout():
    with pytest.raises(outbound.RequestFailed, match="^connection refused$"):
        post(f"http://127.0.0.1:{free_port()}/in")


def test_a_host_with_a_private_cas_certificate_is_trusted_with_that_ca_only(
    private_ca_host, tmp_path
):
    pem, url = private_ca_host
    assert post(url, ca_certificates=pem).status == 204
    with pytest.raises(outbound.RequestFailed, match="^TLS failed$"):
        post(url)  # the public authorities do not know it
    (tmp_path / "other").mkdir()
    another_company, _, _ = self_signed_certificate(tmp_path / "other")
    with pytest.raises(outbound.RequestFailed, match="^TLS failed$"):
        post(url, ca_certificates=another_company)
