// Tell the portal the browser's time zone, so pages show times in it (a person's own
// setting on "Your account" wins). Only the zone's name, e.g. Europe/Berlin.
try {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const cookie = `portcullis_tz=${zone}`;
  if (zone && !document.cookie.split("; ").includes(cookie)) {
    const secure = location.protocol === "https:" ? "; Secure" : "";
    document.cookie = `${cookie}; Path=/; Max-Age=31536000; SameSite=Lax${secure}`;
  }
} catch (error) {
  // No Intl: times stay in UTC.
}
