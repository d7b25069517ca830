"""Tokens and principals. Only SHA-256 hashes of tokens are stored; comparison is constant-time.

Tokens are 32 random bytes, so a fast hash is the right tool (a password hash protects low-entropy
secrets; here it would only add latency to every request).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select
from sqlmodel import Session

from tickets.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from tickets.lifecycle import Actor
from tickets.models import ROLES, Ticket, User, tickets_table, users_table

CUSTOMER_PREFIX = "ct_"
STAFF_PREFIX = "td_"


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff user (with a role) or the customer of exactly one ticket."""

    role: str  # agent | supervisor | integration | admin | customer | anonymous
    user_id: int | None = None
    ticket_id: int | None = None
    customer_id: int | None = None

    @property
    def actor(self) -> Actor:
        return Actor(self.role, self.user_id if self.role != "customer" else self.customer_id)

    def require(self, *roles: str) -> Principal:
        if self.role == "anonymous":
            raise Unauthorized("this endpoint needs 'Authorization: Bearer <token>'")
        if self.role not in roles:
            raise Forbidden(f"role '{self.role}' may not do this; allowed: {', '.join(roles)}")
        return self

    def may_see(self, ticket: Ticket) -> bool:
        if self.role == "customer":
            return ticket.id == self.ticket_id
        return self.role in ("agent", "supervisor")


ANONYMOUS = Principal("anonymous")

_CUSTOMER_BY_TOKEN = select(tickets_table.c.id, tickets_table.c.customer_id, tickets_table.c.customer_token_hash).where(
    tickets_table.c.customer_token_hash == bindparam("digest")
)
_USER_BY_TOKEN = select(users_table.c.id, users_table.c.role, users_table.c.active, users_table.c.token_hash).where(
    users_table.c.token_hash == bindparam("digest")
)


def authenticate(connection: Connection, authorization: str | None) -> Principal:
    """Resolve an ``Authorization`` header; no header is anonymous, a bad token is 401."""
    if not authorization:
        return ANONYMOUS
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("malformed Authorization header: use 'Bearer <token>'")
    digest = hash_token(token)
    if token.startswith(CUSTOMER_PREFIX):
        found = connection.execute(_CUSTOMER_BY_TOKEN, {"digest": digest}).first()
        if found is None or not hmac.compare_digest(found.customer_token_hash, digest):
            raise Unauthorized("unknown customer token")
        return Principal("customer", ticket_id=found.id, customer_id=found.customer_id)
    row = connection.execute(_USER_BY_TOKEN, {"digest": digest}).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise Unauthorized("unknown token")
    if not row.active:
        raise Unauthorized("this token has been revoked")
    return Principal(row.role, user_id=row.id)


def identity_signature(secret: str, external_id: str) -> str:
    """What a host site computes to vouch for its logged-in customer: hex HMAC-SHA256(secret, id)."""
    return hmac.new(secret.encode(), external_id.encode(), hashlib.sha256).hexdigest()


def identity_is_signed(secret: str | None, external_id: str | None, signature: str | None) -> bool:
    if not secret or not external_id or not signature:
        return False
    return hmac.compare_digest(identity_signature(secret, external_id), signature.lower())


def create_user(session: Session, name: str, role: str, now: dt.datetime) -> tuple[User, str]:
    """Create a staff user and return it with its token, which is shown once and never stored."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    if not name.strip():
        raise InvalidInput("name must not be empty", field="name")
    token = new_token(STAFF_PREFIX)
    user = User(name=name.strip(), role=role, token_hash=hash_token(token), created_at=now)
    session.add(user)
    session.flush()
    return user, token


def revoke_user(session: Session, user_id: int, now: dt.datetime) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    user.active = False
    user.revoked_at = now
    session.add(user)
    return user
