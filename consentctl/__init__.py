"""``consentctl``: the operator CLI over the consent store (SPEC §7)."""
