"""slots remember where their identity came from; the editor gate per run

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("slots") as batch:
        batch.add_column(sa.Column("carried_from", sa.String(96), nullable=True))
    op.create_table(
        "run_gates",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("policy", sa.String(16), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_gates")
    with op.batch_alter_table("slots") as batch:
        batch.drop_column("carried_from")
