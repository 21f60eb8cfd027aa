"""Voicenter: the webhook receiver that stages each CDR durably, and the loader that takes staged CDRs to the lake."""
