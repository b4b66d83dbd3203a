"""Session backend: the database keeps a keyed hash of each session key, not the key.

With Django's own backend, a copy of ``django_session`` (a backup, a dump, a read
replica) is a list of cookies anyone can present. Here the row's key is
BLAKE2b(session key) keyed with a key derived from SECRET_KEY, so the table alone
yields no cookie, and logout still deletes the session on the server (which a
signed-cookie session could not do). Sessions made before this backend are simply
not found: their users sign in again.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.sessions.backends import db
from django.utils import timezone


def stored_key(session_key: str) -> str:
    """The row key for ``session_key``: 40 hex characters, as the column holds."""
    secret = hashlib.sha256(f"sundown-session-key:{settings.SECRET_KEY}".encode()).digest()
    return hashlib.blake2b(session_key.encode(), digest_size=20, key=secret).hexdigest()


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        if self.session_key is None:
            return None
        try:
            return self.model.objects.get(
                session_key=stored_key(self.session_key), expire_date__gt=timezone.now()
            )
        except self.model.DoesNotExist:
            self._session_key = None
            return None

    async def _aget_session_from_db(self):
        if self.session_key is None:
            return None
        try:
            return await self.model.objects.aget(
                session_key=stored_key(self.session_key), expire_date__gt=timezone.now()
            )
        except self.model.DoesNotExist:
            self._session_key = None
            return None

    def exists(self, session_key):
        return self.model.objects.filter(session_key=stored_key(session_key)).exists()

    async def aexists(self, session_key):
        return await self.model.objects.filter(session_key=stored_key(session_key)).aexists()

    def create_model_instance(self, data):
        obj = super().create_model_instance(data)
        obj.session_key = stored_key(obj.session_key)
        return obj

    async def acreate_model_instance(self, data):
        obj = await super().acreate_model_instance(data)
        obj.session_key = stored_key(obj.session_key)
        return obj

    def delete(self, session_key=None):
        session_key = session_key or self.session_key
        if session_key is not None:
            super().delete(stored_key(session_key))

    async def adelete(self, session_key=None):
        session_key = session_key or self.session_key
        if session_key is not None:
            await super().adelete(stored_key(session_key))
