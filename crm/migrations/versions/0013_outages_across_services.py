"""outages across services: a service's site, an incident's outage lead

Each service keeps its own incident (per-service downtime for the SLA); an outage of several
services points its members at a lead incident, whose room they share. A lead may name the
site whose new reports join it and the Alertmanager group it gathers.

Revision ID: 0013_outages_across_services
Revises: 0012_storm_rooms
Create Date: 2026-12-02 15:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_outages_across_services"
down_revision: str | None = "0012_storm_rooms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("services", sa.Column("site", sa.String(length=64), nullable=True))
    op.create_index("ix_services_site", "services", ["site"], unique=False)
    # Plain ADD COLUMN: rebuilding `incidents`, which other tables refer to, would have to
    # delete their rows first. SQLite gets no foreign key (it could not drop the column
    # again); PostgreSQL does.
    op.add_column("incidents", sa.Column("outage_id", sa.Integer(), nullable=True))
    op.add_column("incidents", sa.Column("outage_site", sa.String(length=64), nullable=True))
    op.add_column("incidents", sa.Column("outage_group", sa.Text(), nullable=True))
    if op.get_bind().dialect.name != "sqlite":
        op.create_foreign_key(
            "fk_incidents_outage_id_incidents", "incidents", "incidents", ["outage_id"], ["id"]
        )
    op.create_index("ix_incidents_outage_id", "incidents", ["outage_id"], unique=False)
    op.create_index("ix_incidents_outage_site", "incidents", ["outage_site"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_incidents_outage_site", table_name="incidents")
    op.drop_index("ix_incidents_outage_id", table_name="incidents")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_incidents_outage_id_incidents", "incidents", type_="foreignkey")
    # Plain DROP COLUMN (SQLite 3.35+), as in the upgrade.
    op.execute("ALTER TABLE incidents DROP COLUMN outage_group")
    op.execute("ALTER TABLE incidents DROP COLUMN outage_site")
    op.execute("ALTER TABLE incidents DROP COLUMN outage_id")
    op.drop_index("ix_services_site", table_name="services")
    op.execute("ALTER TABLE services DROP COLUMN site")
