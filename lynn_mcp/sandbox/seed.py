"""Demo data written on first start, and the constants tests and docs refer to."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from lynn_mcp.sandbox.store import Store, now_iso

SEED_TENANT = 1000
SEED_ACCESS_TOKEN = "sandbox-access-token"  # noqa: S105 - public demo credential of a local emulator
SEED_ACCESS_TOKEN_SECRET = "sandbox-secret"  # noqa: S105 - public demo credential of a local emulator
SEED_TEMPLATE_ID = "3c6f10ec-0000-4000-8000-21a88f0c9a01"
SEED_CAMPAIGN_ID = "5eed0000-0000-4000-8000-00000000c001"
SEED_TEMPLATE_COLUMNS = (
    "Name", "Phone", "Tags", "New Date", "Store Name", "Order Number", "Coupon Number", "Coupon Days",
)  # fmt: skip
SEED_PHONE_COLUMN = "Phone"
SEED_CATEGORY = "Promotions"

OTHER_TENANT = 2000
OTHER_ACCESS_TOKEN = "other-access-token"  # noqa: S105 - public demo credential of a local emulator
OTHER_ACCESS_TOKEN_SECRET = "other-secret"  # noqa: S105 - public demo credential of a local emulator
OTHER_CAMPAIGN_ID = "5eed0000-0000-4000-8000-00000000c002"

SEED_CONTACTS = (
    ("5eed0000-0000-4000-8000-0000000c0001", "Maiko", "56966666666"),
    ("5eed0000-0000-4000-8000-0000000c0002", "Camilo", "56955555555"),
    ("5eed0000-0000-4000-8000-0000000c0003", "Antonia", "56944444444"),
    ("5eed0000-0000-4000-8000-0000000c0004", "Benjamin", "56933333333"),
    ("5eed0000-0000-4000-8000-0000000c0005", "Valentina", "56922222222"),
)


def seed(store: Store) -> None:
    """Insert the demo tenants, campaign, template and contacts, once per database."""
    with store.write() as db:
        if db.execute("SELECT 1 FROM tenants LIMIT 1").fetchone():
            return
        now = now_iso()
        valid_until = (datetime.now(UTC) + timedelta(days=3650)).isoformat(timespec="milliseconds")
        for tenant, token, secret, campaign_id, name in (
            (SEED_TENANT, SEED_ACCESS_TOKEN, SEED_ACCESS_TOKEN_SECRET, SEED_CAMPAIGN_ID, "Sandbox demo"),
            (OTHER_TENANT, OTHER_ACCESS_TOKEN, OTHER_ACCESS_TOKEN_SECRET, OTHER_CAMPAIGN_ID, "Other tenant"),
        ):
            db.execute("INSERT INTO tenants (id, name) VALUES (?, ?)", (tenant, name))
            db.execute("INSERT INTO credentials VALUES (?, ?, ?)", (token, secret, tenant))
            db.execute(
                "INSERT INTO campaigns VALUES (?, ?, ?, 'Retail', ?, 'SingleMessage', 'Manual', 'WhatsApp',"
                " ?, NULL, NULL, ?, 'Stopped', ?, ?)",
                (
                    campaign_id, tenant, f"{name} campaign", SEED_CATEGORY,
                    SEED_TEMPLATE_ID if tenant == SEED_TENANT else None, valid_until, now, now,
                ),
            )  # fmt: skip
        db.execute(
            "INSERT INTO templates VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                SEED_TEMPLATE_ID, SEED_TENANT, "Order coupon", json.dumps(list(SEED_TEMPLATE_COLUMNS)),
                SEED_PHONE_COLUMN, SEED_CAMPAIGN_ID, now,
            ),
        )  # fmt: skip
        db.executemany(
            "INSERT INTO contacts VALUES (?, ?, ?, 'WhatsApp', ?, '[]', ?, ?)",
            [(cid, SEED_TENANT, name, phone, now, now) for cid, name, phone in SEED_CONTACTS],
        )
