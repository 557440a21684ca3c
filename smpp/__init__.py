"""SMPP 3.4, once for the whole tree: numbers (``constants``), one codec (``codec``) and one
sans-I/O session (``session``) used by the gateway (ESME role) and smsc-sim (SMSC role)."""
