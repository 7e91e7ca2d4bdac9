"""The federation app's admin pages, a module a subject. Importing them registers them."""

from federation.admin import accounts, grants, people, tokens

__all__ = ["accounts", "grants", "people", "tokens"]
