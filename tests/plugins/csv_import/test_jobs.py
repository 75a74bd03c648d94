"""The import's mail jobs: invitations to the customers it created, one at a time and
never twice; nothing for customers it only updated or refused."""

from __future__ import annotations

from email.header import decode_header, make_header

from plugins.csv_import.jobs import send_invitations
from tests.plugins.csv_import.helpers import import_file


def test_invitations_go_to_created_customers_once(
    app, db, shop, write_csv, make_member, smtp_server
):
    app.config["PREMIA_CSV_IMPORT_INVITATION_PAUSE"] = 0
    make_member(shop, email="old@example.com")
    path = write_csv(
        [
            ["nombre", "email"],
            ["Ana", "ana@example.com"],
            ["Bea", "bea@example.com"],
            ["Old", "old@example.com"],  # a member already: refused, not invited
            ["", "sin@example.com"],  # refused
        ]
    )
    import_id = import_file(db, shop, path, "customers", invite=True)
    assert sorted(invitations(smtp_server)) == ["ana@example.com", "bea@example.com"]
    assert send_invitations(shop.id, import_id) == 0  # a retry sends nobody twice
    assert len(invitations(smtp_server)) == 2


def invitations(smtp_server) -> list[str]:
    return [
        m["To"]
        for m in smtp_server.handler.wait_for(2)
        if "te invita a su programa" in str(make_header(decode_header(m["Subject"])))
    ]
