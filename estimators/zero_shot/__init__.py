"""Zero-shot proxies (see issue 3)."""
