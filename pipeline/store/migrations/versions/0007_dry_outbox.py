"""the dry run's own outbox table (a rehearsal never touches the real deliveries)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dry_deliveries",
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
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provider_id", sa.String(64), nullable=True, index=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("run_id", "window", "subscriber_id", "channel",
                            name="uq_dry_delivery_key"),
    )
    op.create_index("ix_dry_deliveries_run_status", "dry_deliveries", ["run_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_dry_deliveries_run_status", "dry_deliveries")
    op.drop_table("dry_deliveries")
