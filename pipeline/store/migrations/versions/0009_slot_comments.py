"""a comment thread per slot

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slot_comments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("slot_id", sa.String(96), nullable=False, index=True),
        sa.Column("editor", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("slot_comments")
