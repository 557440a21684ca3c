"""The pure consent core: decoding, parsing, numbers, eligibility and outcomes. No I/O."""
