"""Per-site thresholds, an API key's site, and suggested scores from Perspective clients.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 01:20:00

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('site', sa.String(length=200), nullable=True))
    op.create_table('site_thresholds',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('site', sa.String(length=200), nullable=False),
    sa.Column('label', sa.String(length=20), nullable=False),
    sa.Column('review', sa.Float(), nullable=False),
    sa.Column('reject', sa.Float(), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('site_thresholds', schema=None) as batch_op:
        batch_op.create_index('ix_site_thresholds_site_label', ['site', 'label'], unique=True)
    op.create_table('suggested_scores',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('comment_id', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('article_text', sa.Text(), nullable=True),
    sa.Column('parent_body', sa.Text(), nullable=True),
    sa.Column('attribute', sa.String(length=40), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('community_id', sa.String(length=200), nullable=True),
    sa.Column('client', sa.String(length=200), nullable=False),
    sa.Column('client_token', sa.String(length=200), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('suggested_scores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suggested_scores_comment_id'), ['comment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_suggested_scores_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_suggested_scores_received_at'), ['received_at'], unique=False)


def downgrade() -> None:
    op.drop_table('suggested_scores')
    op.drop_table('site_thresholds')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('site')
