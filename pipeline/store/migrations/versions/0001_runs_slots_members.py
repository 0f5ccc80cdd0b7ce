"""runs, slots and slot members

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issue_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("window", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("n_zips", sa.Integer, nullable=False),
        sa.Column("n_slots", sa.Integer, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.Column("run_dir", sa.Text, nullable=False),
    )
    op.create_table(
        "slots",
        sa.Column("id", sa.String(96), primary_key=True),
        sa.Column(
            "run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"),
            nullable=False, index=True,
        ),
        sa.Column("slot_id", sa.String(16), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("headline", sa.Text, nullable=False),
        sa.Column("n_zips", sa.Integer, nullable=False),
        sa.Column("n_fit", sa.Integer, nullable=False),
        sa.Column("states", sa.JSON, nullable=False),
        sa.Column("facts", sa.JSON, nullable=False),
        sa.Column("representative", sa.JSON, nullable=False),
        sa.Column("medoid_zip", sa.String(5), nullable=False),
        sa.Column("draft_message", sa.Text, nullable=False),
    )
    op.create_table(
        "slot_members",
        sa.Column(
            "run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("zip", sa.String(5), primary_key=True),
        sa.Column("slot_id", sa.String(16), nullable=False, index=True),
        sa.Column("distance", sa.Float, nullable=False),
        sa.Column("fits", sa.Boolean, nullable=False),
        sa.Column("automatic", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("slot_members")
    op.drop_table("slots")
    op.drop_table("runs")
