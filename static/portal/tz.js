// Tell the portal the browser's time zone, so pages show times in it (a person's own
// setting on "Your account" wins). Only the zone's name, e.g. Europe/Berlin.
try {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const cookie = `portcullis_tz=${zone}`;
  if (zone && !document.cookie.split("; ").includes(cookie)) {
    const secure = location.protocol === "https:" ? "; Secure" : "";
    document.cookie = `${cookie}; Path=/; Max-Age=31536000; SameSite=Lax${secure}`;
  }
  // This page was drawn in the zone the browser reported before (data-browser-zone, only
  // on a page asked for with GET): when the browser has moved since, draw it again, so the
  // first page after a move shows times in the new zone. Only a page that shows times,
  // never one with something shown once (a notice, a comment kept for its box), once per
  // zone, and only when the cookie took.
  const drawnFor = document.documentElement.dataset.browserZone;
  if (
    zone &&
    drawnFor !== undefined &&
    drawnFor !== zone &&
    document.cookie.split("; ").includes(cookie) &&
    document.querySelector("time[datetime]") &&
    !document.querySelector(".messages, .message") &&
    sessionStorage.getItem("portcullis_tz_redrawn") !== zone
  ) {
    sessionStorage.setItem("portcullis_tz_redrawn", zone);
    location.reload();
  }
} catch (error) {
  // No Intl (or no sessionStorage): times stay in UTC, or follow from the next page.
}
