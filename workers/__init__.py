"""RQ job functions and the ``consent-worker`` command that runs them."""
