"""The default cache: Django's database cache, so every web process counts one rate limit together.

Django's ``DatabaseCache.incr`` reads, adds and writes back with separate statements and writes with
the default timeout: two processes counting the same client at once could both write n+1, and each
count would move the window's end. Here ``incr`` is one transaction that locks the row (PostgreSQL's
``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE``, set in settings) and keeps the entry's expiry.

The table is made by ``manage.py createcachetable``, which ``migrate`` runs too (``apps.py``).
"""

from __future__ import annotations

import base64
import pickle

from django.core.cache.backends import db
from django.db import connections, router, transaction
from django.utils.timezone import now


class DatabaseCache(db.DatabaseCache):
    def incr(self, key, delta=1, version=None):
        key = self.make_and_validate_key(key, version=version)
        alias = router.db_for_write(self.cache_model_class)
        connection = connections[alias]
        q = connection.ops.quote_name
        table, value_, key_, expires_ = q(self._table), q("value"), q("cache_key"), q("expires")
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {value_} FROM {table} WHERE {key_} = %s AND {expires_} >= %s{lock}",
                [key, connection.ops.adapt_datetimefield_value(now())],
            )
            row = cursor.fetchone()
            if row is None:
                raise ValueError(f"Key '{key}' not found")
            value = pickle.loads(base64.b64decode(connection.ops.process_clob(row[0]).encode())) + delta
            pickled = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
            cursor.execute(f"UPDATE {table} SET {value_} = %s WHERE {key_} = %s", [pickled, key])
        return value
