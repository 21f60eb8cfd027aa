"""Enigma dialer CDRs: Redis LIST messages to lake rows, and the crash-safe batch drain."""

# The dialer's list of campaign notifications; c2d and cdr may be listed too. Here so that the hook and the
# drain share it without the hook importing the drain (which imports pyarrow).
DEFAULT_KEYS = ("enigma:notifications:campaigns",)
