"""Recruiters' accounts (users), the page's audit trail, submissions.submitted_by.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("board_id", sa.Integer(), sa.ForeignKey("boards.id"), nullable=False),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_users_board_id", "users", ["board_id"])
    op.create_table(
        "audit_events",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("board_id", sa.Integer(), sa.ForeignKey("boards.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(300)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    for column in ("board_id", "user_id", "at"):
        op.create_index(f"ix_audit_events_{column}", "audit_events", [column])
    with op.batch_alter_table("submissions") as batch_op:
        batch_op.add_column(sa.Column("submitted_by", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_submissions_submitted_by", "users", ["submitted_by"],
                                    ["id"])


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch_op:
        batch_op.drop_constraint("fk_submissions_submitted_by", type_="foreignkey")
        batch_op.drop_column("submitted_by")
    op.drop_table("audit_events")
    op.drop_table("users")
