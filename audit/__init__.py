"""The audit trail: AuditEvent, `records.record()` (the only writer) and RequestMeta, the keyed
hash chain and its verification, the /audit/ pages and CSV export, the read-only admin.

It sits just above core and imports no other app of the project: the apps above it write
through `audit.records`, and the grants app answers what the audit page asks of it (the
roles it offers, the accounts' names: `core.hooks`).
"""
