"""sla clocks and webhooks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 02:49:43.005990
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The covering index of the report queries (see tickets/models.py).
REPORT_COLUMNS = [
    "created_at",
    "channel",
    "queue",
    "assignee_id",
    "intent",
    "status",
    "close_reason",
    "auto_replied",
    "first_response_state",
    "first_response_seconds",
    "rating",
    "reopen_count",
    "handed_over_at",
    "resolved_at",
]


def upgrade() -> None:
    op.create_table(
        "job_cursors",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_cursors")),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name=op.f("fk_webhook_deliveries_event_id_events")),
        sa.ForeignKeyConstraint(
            ["webhook_id"], ["webhooks.id"], name=op.f("fk_webhook_deliveries_webhook_id_webhooks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_webhook_event"),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_deliveries_status_next", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_webhook_deliveries_webhook_id"), ["webhook_id"], unique=False)

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_events_message_id_messages"), "messages", ["message_id"], ["id"])

    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("auto_replied", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("sla_policy", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("sla_due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sla_check_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("first_response_state", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("first_response_target_seconds", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("first_response_started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("first_response_warn_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("first_response_used_seconds", sa.Float(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("first_response_seconds", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("next_response_state", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("next_response_target_seconds", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("next_response_started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("next_response_due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("next_response_warn_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("next_response_used_seconds", sa.Float(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("resolution_state", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("resolution_target_seconds", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("resolution_started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("resolution_due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("resolution_warn_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("resolution_used_seconds", sa.Float(), nullable=False, server_default="0"))
        batch_op.drop_index(batch_op.f("ix_tickets_first_response_due"))
        batch_op.create_index("ix_tickets_report", REPORT_COLUMNS, unique=False)
        batch_op.create_index("ix_tickets_sla_check_at", ["sla_check_at"], unique=False)
        batch_op.create_index("ix_tickets_status_sla_due_at", ["status", "sla_due_at"], unique=False)

    # Tickets written before these columns existed: derive them from 0001's columns and events.
    op.execute(
        "UPDATE tickets SET auto_replied = TRUE WHERE id IN "
        "(SELECT ticket_id FROM events WHERE type = 'ticket.auto_replied')"
    )
    op.execute(
        """
        UPDATE tickets SET
            first_response_started_at = handed_over_at,
            first_response_state = CASE
                WHEN handed_over_at IS NULL THEN NULL
                WHEN first_response_at IS NULL THEN 'running'
                WHEN first_response_due_at IS NULL OR first_response_at <= first_response_due_at THEN 'met'
                ELSE 'breached' END,
            sla_due_at = CASE WHEN handed_over_at IS NOT NULL AND first_response_at IS NULL
                THEN first_response_due_at END,
            sla_check_at = CASE WHEN handed_over_at IS NOT NULL AND first_response_at IS NULL
                THEN first_response_due_at END
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_status_sla_due_at")
        batch_op.drop_index("ix_tickets_sla_check_at")
        batch_op.drop_index("ix_tickets_report")
        batch_op.create_index(batch_op.f("ix_tickets_first_response_due"), ["first_response_due_at"], unique=False)
        batch_op.drop_column("resolution_used_seconds")
        batch_op.drop_column("resolution_warn_at")
        batch_op.drop_column("resolution_due_at")
        batch_op.drop_column("resolution_started_at")
        batch_op.drop_column("resolution_target_seconds")
        batch_op.drop_column("resolution_state")
        batch_op.drop_column("next_response_used_seconds")
        batch_op.drop_column("next_response_warn_at")
        batch_op.drop_column("next_response_due_at")
        batch_op.drop_column("next_response_started_at")
        batch_op.drop_column("next_response_target_seconds")
        batch_op.drop_column("next_response_state")
        batch_op.drop_column("first_response_seconds")
        batch_op.drop_column("first_response_used_seconds")
        batch_op.drop_column("first_response_warn_at")
        batch_op.drop_column("first_response_started_at")
        batch_op.drop_column("first_response_target_seconds")
        batch_op.drop_column("first_response_state")
        batch_op.drop_column("sla_check_at")
        batch_op.drop_column("sla_due_at")
        batch_op.drop_column("sla_policy")
        batch_op.drop_column("auto_replied")

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_events_message_id_messages"), type_="foreignkey")
        batch_op.drop_column("message_id")

    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_webhook_id"))
        batch_op.drop_index("ix_webhook_deliveries_status_next")

    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    op.drop_table("job_cursors")
