"""subscribers' "wrong?" replies per delivery

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_replies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("slot_id", sa.String(16), nullable=True),
        sa.Column("zip", sa.String(5), nullable=False),
        sa.Column("subscriber_id", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text, nullable=True),
        sa.UniqueConstraint("delivery_id", "kind", name="uq_reply_delivery_kind"),
    )
    op.create_index("ix_message_replies_run", "message_replies", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_message_replies_run", "message_replies")
    op.drop_table("message_replies")
