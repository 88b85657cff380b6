"""PostgreSQL: a NOTIFY on channel `cvq_keys` from every statement that updates or deletes
boards, so API processes drop the key holders they cache (`api.keycache`) whoever made
the change: `cvqueue keys rotate / revoke`, a migration or an operator's own SQL.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: API processes read keys from the file in process and cache none
    op.execute("""
        CREATE OR REPLACE FUNCTION cvq_keys_changed() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('cvq_keys', '');
            RETURN NULL;
        END
        $$ LANGUAGE plpgsql""")
    op.execute("""
        CREATE TRIGGER boards_keys_changed AFTER UPDATE OR DELETE OR TRUNCATE ON boards
        FOR EACH STATEMENT EXECUTE FUNCTION cvq_keys_changed()""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS boards_keys_changed ON boards")
    op.execute("DROP FUNCTION IF EXISTS cvq_keys_changed()")
