"""A full-text index of the masked complaint text on SQLite, for the console's search.

LIKE '%…%' reads every row, and FTS5's trigram tokenizer finds nothing shorter than three characters,
while most Chinese searches are two (退款, 费率). So each text is indexed as its overlapping character
pairs, the last character alone closing the list: "退款了" → 退款 款了 了. A pair is stored as the hex
of its UTF-8 bytes, ASCII letters lowered first as LIKE folds them, so spaces, punctuation and FTS
syntax in a complaint are ordinary tokens. ``console.pairs_query`` builds the matching query: two or
more characters are a phrase of pairs, one character a prefix (2 hex digits for ASCII, 6 for Chinese,
both kept in prefix indexes).

Triggers keep the index in step with every write, in the writer's transaction. The table is
contentless (the text is already in complaints_complaint), so a changed or deleted row's pairs are
removed with FTS5's 'delete' command, which needs the old text's pairs. Django alters a SQLite table
by copying it, which drops its triggers: a later migration that does so to complaints_complaint must
create TRIGGERS again (tests/web/test_text_search.py fails until it does).

PostgreSQL keeps LIKE: pg_trgm cannot use its index for a pattern shorter than three characters.
"""

from django.db import migrations

TABLE = "complaints_text_search"


def pairs(text: str) -> str:
    """SQL for the tokens of the SQL expression ``text``, in order: positions make phrase queries, and
    group_concat takes the rows as the recursive CTE yields them, 1, 2, 3…"""
    return (
        f"(WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < length({text}))"
        f" SELECT group_concat(hex(lower(substr({text}, n, 2))), ' ') FROM i)"
    )


def insert(row: str) -> str:
    return f"INSERT INTO {TABLE} (rowid, pairs) VALUES ({row}.id, {pairs(f'{row}.text_masked')});"


def delete(row: str) -> str:
    return f"INSERT INTO {TABLE} ({TABLE}, rowid, pairs) VALUES ('delete', {row}.id, {pairs(f'{row}.text_masked')});"


TRIGGERS = [
    f"CREATE TRIGGER {TABLE}_insert AFTER INSERT ON complaints_complaint BEGIN {insert('new')} END",
    f"CREATE TRIGGER {TABLE}_update AFTER UPDATE OF text_masked ON complaints_complaint"
    f" WHEN old.text_masked IS NOT new.text_masked BEGIN {delete('old')} {insert('new')} END",
    # Complaints are never deleted, but the test runner empties tables between tests.
    f"CREATE TRIGGER {TABLE}_delete AFTER DELETE ON complaints_complaint BEGIN {delete('old')} END",
]
FORWARD = [
    f"CREATE VIRTUAL TABLE {TABLE} USING fts5(pairs, content='', columnsize=0, tokenize='ascii', prefix='2 6')",
    f"INSERT INTO {TABLE} (rowid, pairs) SELECT id, {pairs('text_masked')} FROM complaints_complaint",
    *TRIGGERS,
]
BACKWARD = [f"DROP TRIGGER {TABLE}_{event}" for event in ("insert", "update", "delete")] + [f"DROP TABLE {TABLE}"]


class RunSQLOnSQLite(migrations.RunSQL):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "sqlite":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "sqlite":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [("complaints", "0003_assignee_status_index")]

    operations = [RunSQLOnSQLite(FORWARD, BACKWARD)]
