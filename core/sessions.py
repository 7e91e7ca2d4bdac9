"""Session keys the apps share: when the person signed in, was last seen, and last proved
who they are (password or code)."""

SIGNED_IN_AT = "portcullis_signed_in_at"
SEEN_AT = "portcullis_seen_at"
# Issuing credentials or making an API token needs this to be younger than REAUTH_SECONDS.
AUTHENTICATED_AT = "portcullis_authenticated_at"
# Set when the person's identity provider showed a second factor and their tenant counts it:
# the portal then asks for none of its own in this session.
PROVIDER_FACTOR = "portcullis_provider_factor"
