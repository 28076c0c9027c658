"""SigV4-style query signing for the store's presigned URLs.

The URLs look like S3's (``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
``X-Amz-Expires``, ``X-Amz-SignedHeaders``, ``X-Amz-Signature``) and fail like S3's, but the
signature is simpler: an HMAC-SHA256 with a per-store secret over the method, bucket, key
(decoded, so a client that re-quotes the path still matches), every other query parameter and
the values of the signed headers. Like Imagen's links, ``Content-Type`` is signed EMPTY: an
absent or empty header passes, any other value is ``SignatureDoesNotMatch``. A signed
``Content-MD5`` must be sent with exactly the signed value, as S3 requires of signed headers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime

from bridge.emulator.s3errors import StoreError

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_EXPIRES_S = 604800  # S3's limit for presigned URLs: one week
ACCESS_KEY = "EMULATORACCESSKEY"
REGION = "us-east-1"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"

P_ALGORITHM = "X-Amz-Algorithm"
P_CREDENTIAL = "X-Amz-Credential"
P_DATE = "X-Amz-Date"
P_EXPIRES = "X-Amz-Expires"
P_SIGNED_HEADERS = "X-Amz-SignedHeaders"
P_SIGNATURE = "X-Amz-Signature"
AUTH_PARAMS = (P_ALGORITHM, P_CREDENTIAL, P_DATE, P_EXPIRES, P_SIGNED_HEADERS, P_SIGNATURE)

_MISSING_PARAMS = (
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
)


def _query_error(message: str) -> StoreError:
    return StoreError(400, "AuthorizationQueryParametersError", message)


class QuerySigner:
    """Signs and verifies presigned-URL query parameters with one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the signing secret must be at least 16 bytes")
        self._secret = secret

    def sign(
        self,
        method: str,
        bucket: str,
        key: str,
        *,
        now: float,
        expires_in: float,
        params: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> dict[str, str]:
        """All query parameters of a URL valid for at least ``expires_in`` seconds from ``now``.

        ``params`` are extra signed parameters (``partNumber``, ``uploadId``); ``headers`` maps
        lower-case header names to the exact values the request must carry.
        """
        if not math.isfinite(expires_in) or expires_in <= 0:
            raise ValueError(f"expires_in must be a positive number of seconds, got {expires_in}")
        date = math.floor(now)
        expires = math.ceil(now + expires_in) - date  # never shorter than asked, S3's int seconds
        if expires > MAX_EXPIRES_S:
            raise ValueError(f"expires_in must not exceed {MAX_EXPIRES_S} s (S3's limit)")
        stamp = datetime.fromtimestamp(date, UTC)
        query = {
            **params,
            P_ALGORITHM: ALGORITHM,
            P_CREDENTIAL: f"{ACCESS_KEY}/{stamp:%Y%m%d}/{REGION}/s3/aws4_request",
            P_DATE: stamp.strftime(DATE_FORMAT),
            P_EXPIRES: str(expires),
            P_SIGNED_HEADERS: ";".join(sorted(headers)),
        }
        query[P_SIGNATURE] = self._signature(method, bucket, key, query, headers)
        return query

    def verify(
        self,
        method: str,
        bucket: str,
        key: str,
        *,
        now: float,
        query: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> None:
        """Raise the ``StoreError`` S3 would give for this request, or return if it is signed.

        ``headers`` is the request's (case-insensitive) header mapping.
        """
        present = [name for name in AUTH_PARAMS if name in query]
        if not present:
            raise StoreError(
                403, "AccessDenied", "Access Denied: this store only accepts presigned URLs."
            )
        if len(present) != len(AUTH_PARAMS):
            raise _query_error(_MISSING_PARAMS)
        if query[P_ALGORITHM] != ALGORITHM:
            raise _query_error(f'X-Amz-Algorithm only supports "{ALGORITHM}".')
        try:
            signed_at = datetime.strptime(query[P_DATE], DATE_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise _query_error(
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"."
            ) from None
        expires_text = query[P_EXPIRES]
        if not (expires_text.isascii() and expires_text.isdigit() and len(expires_text) <= 7):
            raise _query_error("X-Amz-Expires should be a number.")
        expires = int(expires_text)
        if not 1 <= expires <= MAX_EXPIRES_S:
            raise _query_error(
                f"X-Amz-Expires must be between 1 and {MAX_EXPIRES_S} seconds (one week)."
            )
        signed = {
            name: headers.get(name, "").strip()
            for name in query[P_SIGNED_HEADERS].lower().split(";")
            if name
        }
        expected = self._signature(method, bucket, key, query, signed)
        given = query[P_SIGNATURE].encode("utf-8", "surrogatepass")
        if not hmac.compare_digest(expected.encode(), given):
            raise StoreError(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you "
                "provided. Check your key and signing method.",
            )
        expiry = signed_at.timestamp() + expires
        if now > expiry:
            error = StoreError(403, "AccessDenied", "Request has expired")
            error.fields.update(
                {
                    P_EXPIRES: expires_text,
                    "Expires": _iso(expiry),
                    "ServerTime": _iso(now),
                }
            )
            raise error

    def _signature(
        self,
        method: str,
        bucket: str,
        key: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> str:
        # JSON keeps the fields unambiguous whatever a key contains (newlines, quotes, NUL).
        material = json.dumps(
            [
                method,
                bucket,
                key,
                sorted((name, value) for name, value in query.items() if name != P_SIGNATURE),
                sorted(headers.items()),
            ],
            ensure_ascii=True,
        )
        return hmac.new(self._secret, material.encode(), hashlib.sha256).hexdigest()


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
