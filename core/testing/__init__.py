"""Premia's test fixtures, as a pytest plugin for the platform's tests and a plugin's.

A plugin package loads it from its own `conftest.py`:

    pytest_plugins = ["core.testing"]

and gets real services, as Premia's own suite does (no fakes): a migrated database
(PostgreSQL, or SQLite with PREMIA_TEST_DATABASE_URL=sqlite:///…) and Redis, chosen or
started by `servers`; an SMTP server that keeps what it receives (`smtp_server`, from
`services`) and a DNS server answering the records a test gives it (`dns_server`); and
`factories`' app and data: `app` (every installed plugin loaded by its entry point),
`client`, `platform`, `make_plan`, `make_tenant`, `make_member`, `db(tenant)` (a
tenant-scoped session). `weblogin.login(client, db, tenant, role)` logs staff in
through the login form. Tenant data is emptied after each test. On PostgreSQL,
`streaming_replica` (from `replica`) is a real hot standby of the test server.

It needs Premia's `dev` extra (pytest, aiosmtpd); nothing else in the platform imports it.
"""

pytest_plugins = [
    "core.testing.servers",
    "core.testing.factories",
    "core.testing.services",
    "core.testing.replica",
]
