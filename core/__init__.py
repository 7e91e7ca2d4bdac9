"""What every app of the portal needs, beneath them all: where a request comes from, input
validation, error pages and probes, request ids and structured logs, session clocks, and
how admin pages and querysets are scoped to a person's tenants. Imports Django only."""
