"""Enigma dialer CDRs: Redis LIST messages to lake rows, and the crash-safe batch drain."""
