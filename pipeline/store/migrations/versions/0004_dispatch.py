"""dispatch: subscribers, the delivery outbox, provider events, inbound messages

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("zip", sa.String(5), nullable=False, index=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(20), nullable=True, unique=True),
        sa.Column("email", sa.String(254), nullable=True, unique=True),
        sa.Column("webhook_url", sa.Text, nullable=True),
        sa.Column("morning_at", sa.String(5), nullable=False),
        sa.Column("evening_at", sa.String(5), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opted_out_at", TS, nullable=True),
        sa.Column("opt_out_via", sa.String(64), nullable=True),
        sa.Column("token", sa.String(32), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("window", sa.String(32), nullable=False),
        sa.Column("subscriber_id", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("slot_id", sa.String(16), nullable=True),
        sa.Column("zip", sa.String(5), nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("automatic", sa.Boolean, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("provider_id", sa.String(64), nullable=True, index=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("run_id", "window", "subscriber_id", "channel",
                            name="uq_delivery_key"),
    )
    op.create_index("ix_deliveries_run_status", "deliveries", ["run_id", "status"])
    op.create_table(
        "delivery_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.Integer, nullable=True, index=True),
        sa.Column("provider_id", sa.String(64), nullable=True, index=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("at", TS, nullable=False),
    )
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("sender", sa.String(254), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("subscriber_id", sa.Integer, nullable=True),
        sa.Column("at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("inbound_messages")
    op.drop_table("delivery_events")
    op.drop_index("ix_deliveries_run_status", "deliveries")
    op.drop_table("deliveries")
    op.drop_table("subscribers")
