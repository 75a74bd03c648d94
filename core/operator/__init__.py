"""The operator console: the platform's own people at `/operator/`, on the platform's hosts.

Operators have accounts of their own (`models.Operator`, `accounts`): a password and a
required second factor (TOTP, or a one-time recovery code). What they do to merchants
(`merchants`: plans, suspension; `exports`: a merchant's data), to plans (`plans`) and to
jobs (`health`) is written to the audit log (`audit`) with who, what, when and from where.
The pages are in `signin` (the sign-in and its second factor) and `console`.
"""
