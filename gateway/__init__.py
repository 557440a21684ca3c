"""The SMPP gateway daemon ``sms-gateway``: subscriber texts in, queued events out, replies back."""
