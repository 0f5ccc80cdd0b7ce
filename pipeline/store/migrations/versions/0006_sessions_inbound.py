"""editors' session version and disabled flag (sessions end server-side); inbound messages
keyed by the provider's message id (a replayed webhook is recorded once)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("editors") as batch:
        batch.add_column(sa.Column("session_version", sa.Integer, nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("disabled", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table("inbound_messages") as batch:
        batch.add_column(sa.Column("provider_id", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_inbound_provider_id", ["provider_id"])


def downgrade() -> None:
    with op.batch_alter_table("inbound_messages") as batch:
        batch.drop_constraint("uq_inbound_provider_id", type_="unique")
        batch.drop_column("provider_id")
    with op.batch_alter_table("editors") as batch:
        batch.drop_column("disabled")
        batch.drop_column("session_version")
