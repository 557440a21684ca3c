"""Tests of the pure consent core: tables of cases and hypothesis properties."""
