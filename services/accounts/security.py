"""Password hashing (argon2) and signed access tokens (JWT, HS256)."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# One of OWASP's Password Storage Cheat Sheet settings for argon2id (9 MiB, 4 passes, 1 lane; OWASP
# counts its settings from 7 MiB x 5 to 46 MiB x 1 equally strong), not the library's default
# (RFC 9106's 64 MiB, 3 passes, 4 lanes): each check in flight holds its memory, and the default
# put 64 MiB on the API's resident size per login slot (bench/: 184 MiB peak after logins).
# Hashes keep their own settings: older ones still verify.
_hasher = PasswordHasher(time_cost=4, memory_cost=9_216, parallelism=1)
# Verified against when the email is unknown, so both paths take the same time.
_DUMMY_HASH = _hasher.hash("backstride-timing-equaliser")
_ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class TokenClaims:
    user_id: uuid.UUID
    clinic_id: uuid.UUID
    session_id: uuid.UUID


def issue_token(
    secret: str, user_id: uuid.UUID, clinic_id: uuid.UUID, session_id: uuid.UUID, now: datetime, ttl: timedelta
) -> str:
    """A signed token naming its session (`sid`), which the server can end before `exp`."""
    claims = {
        "sub": str(user_id),
        "cid": str(clinic_id),
        "sid": str(session_id),
        "typ": "access",
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def read_token(secret: str, token: str) -> TokenClaims | None:
    """The claims of a valid, unexpired access token; None for anything else."""
    try:
        claims = jwt.decode(token, secret, algorithms=[_ALGORITHM], options={"require": ["sub", "cid", "sid", "exp"]})
        if claims.get("typ") != "access":
            return None
        ids = (uuid.UUID(claims["sub"]), uuid.UUID(claims["cid"]), uuid.UUID(claims["sid"]))
        return TokenClaims(user_id=ids[0], clinic_id=ids[1], session_id=ids[2])
    except (jwt.InvalidTokenError, ValueError, TypeError):
        return None
