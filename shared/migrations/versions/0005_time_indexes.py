"""Indexes on submissions.created_at and finished_at: the dashboard's history and the
status figures read time windows.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch_op:
        batch_op.create_index("ix_submissions_created_at", ["created_at"])
        batch_op.create_index("ix_submissions_finished_at", ["finished_at"])


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch_op:
        batch_op.drop_index("ix_submissions_finished_at")
        batch_op.drop_index("ix_submissions_created_at")
