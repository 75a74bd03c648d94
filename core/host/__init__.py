"""The host wing: configuration, the database and tenancy, the platform, the plugin host
and its hookspecs, events and topics, errors, actors and migrations."""
