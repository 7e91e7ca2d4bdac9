// After django-otp-webauthn's script registers a passkey, show the page again: the new
// passkey in the list, and the recovery codes that come with a first one.
document.addEventListener("otp_webauthn.register_complete", () => window.location.reload());
