"""While1 Voice PBX ``/api/cdr``: PHP-compatible request signing, the client, the record layout and the pull."""
