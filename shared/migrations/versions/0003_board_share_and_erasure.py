"""An index for counting each board's unfinished submissions (queue shares), and the
Idempotency-Key a submission was created under, so that erasing it erases that record.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(200), nullable=True))
        batch_op.create_index("ix_submissions_status_board", ["status", "board_id"])


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch_op:
        batch_op.drop_index("ix_submissions_status_board")
        batch_op.drop_column("idempotency_key")
