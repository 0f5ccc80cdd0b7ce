"""subscriber self-service: sign-ups waiting for confirmation, the consent record, pauses

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subscriber_id", sa.Integer, nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(2048), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_consents_address", "consents", ["address"])
    op.create_index("ix_consents_subscriber", "consents", ["subscriber_id"])
    op.create_table(
        "signups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("public_id", sa.String(32), nullable=False, unique=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("zip", sa.String(5), nullable=False),
        sa.Column("morning_at", sa.String(5), nullable=True),
        sa.Column("evening_at", sa.String(5), nullable=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("source", sa.String(300), nullable=False),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("address_key", sa.String(254), nullable=False),
        sa.Column("text_shown", sa.Text, nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("sent", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("subscriber_id", sa.Integer, nullable=True),
    )
    op.create_index("ix_signups_address", "signups", ["address_key", "created_at"])
    op.create_index("ix_signups_source", "signups", ["network", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_signups_source", "signups")
    op.drop_index("ix_signups_address", "signups")
    op.drop_table("signups")
    op.drop_index("ix_consents_subscriber", "consents")
    op.drop_index("ix_consents_address", "consents")
    op.drop_table("consents")
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("paused_until")
