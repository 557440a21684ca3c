"""Gateway exceptions, each carrying what an operator needs to act."""


class GatewayError(Exception):
    """Base of the gateway's errors."""


class LinkError(GatewayError):
    """The SMPP connection failed or was closed."""


class BindRefused(GatewayError):
    """The SMSC answered our bind with a non-zero status (wrong password, system_id, ...)."""

    def __init__(self, where: str, status: int, name: str) -> None:
        super().__init__(f"SMPP bind refused by {where}: {name} (0x{status:02X})")
        self.status = status
