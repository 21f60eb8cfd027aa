"""While1 Voice PBX ``/api/cdr``: PHP-compatible request signing, the client, the record layout and the pull."""

# How far before its interval each pull reads again, for calls filed late (see cdr.sources.pbx.extract); here so that
# the hook reads it without importing the pull (which imports pyarrow).
DEFAULT_LOOKBACK_HOURS = 4.0
