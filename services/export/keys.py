"""Key pairs for SMART Backend Services: made per integration, the private half sealed at rest.

Each clinic using `smart_backend` gets two key pairs, RS384 (RSA 3072) and ES384 (P-384): EHRs
differ in which they accept, and the JWKS serves both public keys. The private keys are sealed
with AES-256-GCM under a key derived (HKDF-SHA256) from SECRET_KEY, bound to the clinic and key
id, so a database dump alone does not sign anything and a sealed key moved to another clinic's
row does not open.
"""

import base64
import os
import uuid
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.algorithms import get_default_algorithms

from services.export.models import IntegrationKey

ALGORITHMS = ("RS384", "ES384")
ASSERTION_LIFETIME = timedelta(minutes=5)  # the most SMART Backend Services allows
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _sealing_key(secret_key: str) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"backstride integration keys v1")
    return AESGCM(derived.derive(secret_key.encode()))


def _aad(clinic_id: uuid.UUID, kid: str) -> bytes:
    return f"{clinic_id}:{kid}".encode()


def seal(private_pem: bytes, secret_key: str, clinic_id: uuid.UUID, kid: str) -> str:
    nonce = os.urandom(12)
    sealed = _sealing_key(secret_key).encrypt(nonce, private_pem, _aad(clinic_id, kid))
    return base64.b64encode(nonce + sealed).decode()


def opens(key: IntegrationKey, secret_key: str) -> bool:
    """Whether this SECRET_KEY unseals the key (not after SECRET_KEY was changed)."""
    try:
        unseal(key, secret_key)
    except InvalidTag:
        return False
    return True


def unseal(key: IntegrationKey, secret_key: str) -> bytes:
    raw = base64.b64decode(key.sealed_private_key)
    return _sealing_key(secret_key).decrypt(raw[:12], raw[12:], _aad(key.clinic_id, key.kid))


def new_key(clinic_id: uuid.UUID, algorithm: str, secret_key: str, now: datetime) -> IntegrationKey:
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=3072)
        if algorithm == "RS384"
        else ec.generate_private_key(ec.SECP384R1())
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    jwk: dict[str, Any] = get_default_algorithms()[algorithm].to_jwk(private.public_key(), as_dict=True)
    kid = uuid.uuid4().hex
    public = {**jwk, "kid": kid, "alg": algorithm, "use": "sig", "key_ops": ["verify"]}
    return IntegrationKey(
        kid=kid,
        clinic_id=clinic_id,
        algorithm=algorithm,
        public_jwk=public,
        sealed_private_key=seal(pem, secret_key, clinic_id, kid),
        created_at=now,
    )


def jwks(keys: list[IntegrationKey]) -> dict[str, Any]:
    return {"keys": [key.public_jwk for key in keys]}


def client_assertion(key: IntegrationKey, secret_key: str, client_id: str, token_url: str, now: datetime) -> str:
    """The signed JWT a SMART token endpoint takes as `client_assertion` (single use: its own jti)."""
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "jti": uuid.uuid4().hex,
        "iat": int(now.timestamp()),
        "exp": int((now + ASSERTION_LIFETIME).timestamp()),
    }
    headers = {"kid": key.kid, "typ": "JWT"}
    return jwt.encode(claims, unseal(key, secret_key), algorithm=key.algorithm, headers=headers)
