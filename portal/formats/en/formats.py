"""How the Django admin writes dates and times: as the portal's own pages do
(core.templatetags.units.when), "2026-12-07 00:26 UTC" in the viewer's time zone. What
people type is read in the locale's input formats.
"""

DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
