"""Lanes, batches as objects, webhooks: submissions.lane and batch_id, the batches and
webhook_deliveries tables, the boards' webhook columns.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("board_id", sa.Integer(), sa.ForeignKey("boards.id"), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True)),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_batches_board_id", "batches", ["board_id"])
    op.create_index("ix_batches_completed_at", "batches", ["completed_at"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(40), nullable=False, unique=True),
        sa.Column("board_id", sa.Integer(), sa.ForeignKey("boards.id"), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_status", sa.Integer()),
        sa.Column("last_error", sa.String(300)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_webhook_deliveries_board_id", "webhook_deliveries", ["board_id"])
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries",
                    ["status", "next_attempt_at"])
    with op.batch_alter_table("submissions") as batch_op:
        batch_op.add_column(sa.Column("batch_id", sa.String(32), nullable=True))
        batch_op.add_column(sa.Column("lane", sa.String(16), nullable=False,
                                      server_default="interactive"))
        batch_op.create_foreign_key("fk_submissions_batch_id", "batches", ["batch_id"], ["id"])
        batch_op.create_index("ix_submissions_batch_id", ["batch_id"])
    with op.batch_alter_table("boards") as batch_op:
        batch_op.add_column(sa.Column("webhook_url", sa.String(2000)))
        batch_op.add_column(sa.Column("webhook_secret", sa.String(100)))
        batch_op.add_column(sa.Column("webhook_previous_secret", sa.String(100)))
        batch_op.add_column(sa.Column("webhook_previous_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("boards") as batch_op:
        for column in ("webhook_previous_until", "webhook_previous_secret", "webhook_secret",
                       "webhook_url"):
            batch_op.drop_column(column)
    with op.batch_alter_table("submissions") as batch_op:
        batch_op.drop_index("ix_submissions_batch_id")
        batch_op.drop_constraint("fk_submissions_batch_id", type_="foreignkey")
        batch_op.drop_column("lane")
        batch_op.drop_column("batch_id")
    op.drop_table("webhook_deliveries")
    op.drop_table("batches")
