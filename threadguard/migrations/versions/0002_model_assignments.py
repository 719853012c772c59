"""Model assignments: which model every replica serves live, and which runs in shadow.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 01:10:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('model_assignments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('model_path', sa.Text(), nullable=True),
    sa.Column('model_name', sa.String(length=200), nullable=True),
    sa.Column('model_version', sa.String(length=100), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('model_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_assignments_role'), ['role'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('model_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_assignments_role'))
    op.drop_table('model_assignments')
