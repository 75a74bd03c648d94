"""Tenants (merchants), the plans they are on, and which plugins each has on."""
