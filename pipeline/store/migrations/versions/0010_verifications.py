"""observed verification of a run's messages

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verifications",
        # no foreign key, like messages: a verification outlives a rerun of the same run id
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_true_share", sa.Float, nullable=True),
        sa.Column("verifiable_share", sa.Float, nullable=False),
        sa.Column("observations", sa.Text, nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("verifications")
