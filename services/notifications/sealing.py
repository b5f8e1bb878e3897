"""Webhook secrets: made by Backstride, shown once, kept sealed at rest.

The worker needs each secret in clear to sign with, so it cannot be hashed. It is sealed with
AES-256-GCM under a key derived (HKDF-SHA256) from SECRET_KEY and bound to the clinic, as the
export's SMART private keys are: a database dump alone signs nothing, and a sealed secret
copied to another clinic's row does not open.
"""

import base64
import os
import secrets
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "whsec_"


class SecretUnreadable(Exception):
    """The sealed secret does not open: SECRET_KEY changed since it was made."""


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def _key(secret_key: str) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"backstride webhook secrets v1")
    return AESGCM(derived.derive(secret_key.encode()))


def seal(secret: str, secret_key: str, clinic_id: uuid.UUID) -> str:
    nonce = os.urandom(12)
    return base64.b64encode(nonce + _key(secret_key).encrypt(nonce, secret.encode(), clinic_id.bytes)).decode()


def unseal(sealed: str, secret_key: str, clinic_id: uuid.UUID) -> str:
    raw = base64.b64decode(sealed)
    try:
        return _key(secret_key).decrypt(raw[:12], raw[12:], clinic_id.bytes).decode()
    except InvalidTag as exc:
        raise SecretUnreadable("the webhook secret does not open (SECRET_KEY changed): rotate it") from exc
