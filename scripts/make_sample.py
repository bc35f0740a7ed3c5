"""Write lynn_mcp/data/sample_contacts.csv: the demo's 5,000 rows for the sandbox's seeded template.

    .venv/bin/python scripts/make_sample.py

Deterministic (fixed seed), so the committed file only changes when this script does. What the
demo's report should show, by construction:
    BAD_PHONES rows with unusable phones (too short, letters, empty) -> invalid_phone / missing_phone
    DUPLICATES rows repeating an earlier phone in another spelling    -> duplicate_in_file
    1 row with BLACKLISTED_PHONE, a seeded contact the demo blacklists for its campaign before loading
    every other row accepted
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "lynn_mcp" / "data" / "sample_contacts.csv"
COLUMNS = ("Name", "Phone", "Tags", "New Date", "Store Name", "Order Number", "Coupon Number", "Coupon Days")
ROWS = 5000
BLACKLISTED_PHONE = "56966666666"  # the sandbox's seeded contact "Maiko"
BAD_PHONES = ("12345", "5691234", "56 9 ABCD EFGH", "", "569123456789012345", "n/a")
BAD_ROWS = 30
DUPLICATES = 20

FIRST = ("Antonia", "Benjamín", "Camila", "Diego", "Emilia", "Felipe", "Gabriela", "Héctor", "Isidora",
         "Joaquín", "Josefa", "Lucas", "Martina", "Matías", "Renata", "Sofía", "Tomás",
         "Valentina")  # fmt: skip
LAST = ("Araya", "Castro", "Contreras", "Díaz", "Fuentes", "González", "Muñoz", "Pérez", "Rojas",
        "Silva", "Soto", "Vargas")  # fmt: skip
STORES = ("Providencia", "Las Condes", "Ñuñoa", "Viña del Mar", "Concepción", "Antofagasta", "Temuco")
TAGS = ("new", "vip", "returning", "newsletter", "app")


def spelled(phone: str, rng: random.Random) -> str:
    """The same number as people type it: plain, with +, or grouped with spaces and dashes."""
    style = rng.randrange(3)
    if style == 0:
        return phone
    if style == 1:
        return "+" + phone
    return f"+{phone[:2]} {phone[2]} {phone[3:7]}-{phone[7:]}"


def main() -> None:
    rng = random.Random(20260728)  # noqa: S311 # sample data, not security
    used: set[str] = {BLACKLISTED_PHONE}
    rows: list[dict[str, str]] = []
    for number in range(ROWS - BAD_ROWS - DUPLICATES - 1):
        while True:
            phone = "569" + "".join(rng.choice("0123456789") for _ in range(8))
            if phone not in used:
                used.add(phone)
                break
        rows.append(
            {
                "Name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "Phone": spelled(phone, rng),
                "Tags": rng.choice(TAGS),
                "New Date": f"2026-12-{rng.randrange(1, 29):02d}",
                "Store Name": rng.choice(STORES),
                "Order Number": f"ORD-{100000 + number}",
                "Coupon Number": f"CPN-{rng.randrange(16**6):06X}",
                "Coupon Days": str(rng.choice((7, 14, 30))),
            }
        )
    for index in range(DUPLICATES):
        original = rows[rng.randrange(len(rows))]
        digits = "".join(ch for ch in original["Phone"] if ch.isdigit())
        rows.append({**original, "Phone": spelled(digits, rng), "Order Number": f"ORD-DUP-{index}"})
    for index in range(BAD_ROWS):
        rows.append({**rows[rng.randrange(len(rows))], "Phone": BAD_PHONES[index % len(BAD_PHONES)]})
    rows.append({**rows[0], "Name": "Maiko", "Phone": BLACKLISTED_PHONE, "Order Number": "ORD-BLACKLISTED"})
    rng.shuffle(rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {OUT}")  # noqa: T201 # a script telling what it wrote


if __name__ == "__main__":
    main()
