"""A software passkey for tests through Django's test client: it answers the portal's
WebAuthn options as an authenticator would ("none" attestation, ES256), so
the server side (django-otp-webauthn and py_webauthn) checks real signatures. The browser
suite uses Chromium's own virtual authenticator instead."""

import base64
import hashlib
import json
import os
import struct

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_USER_PRESENT = 0x01
FLAG_USER_VERIFIED = 0x04
FLAG_ATTESTED_DATA = 0x40


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SoftKey:
    def __init__(self, rp_id="testserver", origin="https://testserver"):
        self.rp_id, self.origin = rp_id, origin
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.sign_count = 0

    def _client_data(self, kind, challenge):
        data = {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        return json.dumps(data).encode()

    def _auth_data(self, flags, extra=b""):
        self.sign_count += 1
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        return rp_hash + bytes([flags]) + struct.pack(">I", self.sign_count) + extra

    def _cose_key(self):
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def create(self, options):
        """The answer to navigator.credentials.create() with these options."""
        attested = (
            bytes(16)
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self._cose_key()
        )
        flags = FLAG_USER_PRESENT | FLAG_USER_VERIFIED | FLAG_ATTESTED_DATA
        auth_data = self._auth_data(flags, attested)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(
                    self._client_data("webauthn.create", options["challenge"])
                ),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        }

    def get(self, options):
        """The answer to navigator.credentials.get() with these options."""
        client_data = self._client_data("webauthn.get", options["challenge"])
        auth_data = self._auth_data(FLAG_USER_PRESENT | FLAG_USER_VERIFIED)
        signature = self.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": None,
            },
            "clientExtensionResults": {},
        }


def register(client, key):
    """Add `key` as a passkey for whoever `client` is signed in as; returns the response."""
    begun = client.post("/webauthn/registration/begin/", content_type="application/json")
    if begun.status_code != 200:
        return begun
    options = begun.json()
    return client.post(
        "/webauthn/registration/complete/", key.create(options), content_type="application/json"
    )


def use(client, key, next_url=""):
    """Use `key` as the second factor; returns the response."""
    options = client.post("/webauthn/authentication/begin/", content_type="application/json").json()
    query = f"?next={next_url}" if next_url else ""
    return client.post(
        f"/webauthn/authentication/complete/{query}",
        key.get(options),
        content_type="application/json",
    )
