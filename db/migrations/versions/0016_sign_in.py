"""Sign-in for people: password hashes, login tokens that expire, token kinds.

Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"


def upgrade() -> None:
    op.add_column("users", sa.Column("password_hash", sa.String(length=255), nullable=True))
    # An address that can sign in names one user across all tenants (sign-in runs before the tenant is known).
    op.create_index("uq_users_login_email", "users", [sa.text("lower(email)")], unique=True,
                    postgresql_where=sa.text("password_hash IS NOT NULL"))
    op.add_column("api_tokens", sa.Column("kind", sa.String(length=16), server_default="api", nullable=False))
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(op.f("ck_api_tokens_kind"), "api_tokens", "kind IN ('api','login')")
    op.create_index("ix_api_tokens_account_created", "api_tokens", ["account_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_api_tokens_account_created", table_name="api_tokens")
    op.drop_constraint(op.f("ck_api_tokens_kind"), "api_tokens", type_="check")
    op.drop_column("api_tokens", "expires_at")
    op.drop_column("api_tokens", "kind")
    op.drop_index("uq_users_login_email", table_name="users")
    op.drop_column("users", "password_hash")
