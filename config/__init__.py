"""Configuration: typed, validated settings and the consent catalog, loaded once at start-up."""
