"""``consent-webhooks``: pushes every consent change from the feed to subscribed URLs."""
