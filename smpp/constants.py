"""SMPP 3.4 numbers, defined once for the whole tree: command ids, command statuses, the
optional-parameter tags and esm_class bits we act on, and the PDU size limits.

Section numbers cite the SMPP v3.4 specification (issue 1.2, 12 October 1999).
"""

from __future__ import annotations

from typing import Final

# §3.2 / §3.3: the header is command_length, command_id, command_status, sequence_number.
HEADER_LEN: Final[int] = 16
# A PDU longer than this is refused before its body is read (and the stream with it: the
# next boundary cannot be found). The largest legal PDU is a submit_sm/deliver_sm/data_sm
# whose message_payload TLV (§5.3.2.32) holds 64 KiB, plus mandatory fields and a few TLVs.
MAX_PDU_LEN: Final[int] = 0x10000 + 512
RESPONSE_BIT: Final[int] = 0x80000000
# §3.2 sequence_number: 0x00000001 .. 0x7FFFFFFF.
MAX_SEQUENCE: Final[int] = 0x7FFFFFFF

# §5.1.2.1 command_id values.
GENERIC_NACK: Final = 0x80000000
BIND_RECEIVER: Final = 0x00000001
BIND_RECEIVER_RESP: Final = 0x80000001
BIND_TRANSMITTER: Final = 0x00000002
BIND_TRANSMITTER_RESP: Final = 0x80000002
QUERY_SM: Final = 0x00000003
QUERY_SM_RESP: Final = 0x80000003
SUBMIT_SM: Final = 0x00000004
SUBMIT_SM_RESP: Final = 0x80000004
DELIVER_SM: Final = 0x00000005
DELIVER_SM_RESP: Final = 0x80000005
UNBIND: Final = 0x00000006
UNBIND_RESP: Final = 0x80000006
REPLACE_SM: Final = 0x00000007
REPLACE_SM_RESP: Final = 0x80000007
CANCEL_SM: Final = 0x00000008
CANCEL_SM_RESP: Final = 0x80000008
BIND_TRANSCEIVER: Final = 0x00000009
BIND_TRANSCEIVER_RESP: Final = 0x80000009
OUTBIND: Final = 0x0000000B
ENQUIRE_LINK: Final = 0x00000015
ENQUIRE_LINK_RESP: Final = 0x80000015
SUBMIT_MULTI: Final = 0x00000021
SUBMIT_MULTI_RESP: Final = 0x80000021
ALERT_NOTIFICATION: Final = 0x00000102
DATA_SM: Final = 0x00000103
DATA_SM_RESP: Final = 0x80000103

COMMAND_NAMES: Final[dict[int, str]] = {
    GENERIC_NACK: "generic_nack",
    BIND_RECEIVER: "bind_receiver", BIND_RECEIVER_RESP: "bind_receiver_resp",
    BIND_TRANSMITTER: "bind_transmitter", BIND_TRANSMITTER_RESP: "bind_transmitter_resp",
    QUERY_SM: "query_sm", QUERY_SM_RESP: "query_sm_resp",
    SUBMIT_SM: "submit_sm", SUBMIT_SM_RESP: "submit_sm_resp",
    DELIVER_SM: "deliver_sm", DELIVER_SM_RESP: "deliver_sm_resp",
    UNBIND: "unbind", UNBIND_RESP: "unbind_resp",
    REPLACE_SM: "replace_sm", REPLACE_SM_RESP: "replace_sm_resp",
    CANCEL_SM: "cancel_sm", CANCEL_SM_RESP: "cancel_sm_resp",
    BIND_TRANSCEIVER: "bind_transceiver", BIND_TRANSCEIVER_RESP: "bind_transceiver_resp",
    OUTBIND: "outbind",
    ENQUIRE_LINK: "enquire_link", ENQUIRE_LINK_RESP: "enquire_link_resp",
    SUBMIT_MULTI: "submit_multi", SUBMIT_MULTI_RESP: "submit_multi_resp",
    ALERT_NOTIFICATION: "alert_notification",
    DATA_SM: "data_sm", DATA_SM_RESP: "data_sm_resp",
}
COMMAND_IDS: Final[dict[str, int]] = {name: cid for cid, name in COMMAND_NAMES.items()}
BIND_COMMANDS: Final = frozenset({BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER})
# §4.12 alert_notification and §4.1.7 outbind have no response.
NO_RESPONSE: Final = frozenset({ALERT_NOTIFICATION, OUTBIND})

# §5.1.3 command_status values.
ESME_ROK: Final = 0x00000000
ESME_RINVMSGLEN: Final = 0x00000001  # Message Length is invalid (sm_length)
ESME_RINVCMDLEN: Final = 0x00000002  # Command Length is invalid
ESME_RINVCMDID: Final = 0x00000003  # Invalid Command ID
ESME_RINVBNDSTS: Final = 0x00000004  # Incorrect BIND Status for given command
ESME_RALYBND: Final = 0x00000005  # ESME Already in Bound State
ESME_RINVPRTFLG: Final = 0x00000006
ESME_RINVREGDLVFLG: Final = 0x00000007
ESME_RSYSERR: Final = 0x00000008  # System Error
ESME_RINVSRCADR: Final = 0x0000000A
ESME_RINVDSTADR: Final = 0x0000000B  # Invalid Dest Addr
ESME_RINVMSGID: Final = 0x0000000C
ESME_RBINDFAIL: Final = 0x0000000D  # Bind Failed
ESME_RINVPASWD: Final = 0x0000000E
ESME_RINVSYSID: Final = 0x0000000F
ESME_RMSGQFUL: Final = 0x00000014  # Message Queue Full
ESME_RINVSERTYP: Final = 0x00000015
ESME_RINVESMCLASS: Final = 0x00000043
ESME_RSUBMITFAIL: Final = 0x00000045  # submit_sm or submit_multi failed
ESME_RTHROTTLED: Final = 0x00000058  # Throttling error (ESME has exceeded allowed rates)
ESME_RINVSCHED: Final = 0x00000061
ESME_RINVEXPIRY: Final = 0x00000062
ESME_RX_T_APPN: Final = 0x00000064  # ESME Receiver Temporary App Error Code
ESME_RX_P_APPN: Final = 0x00000065  # ESME Receiver Permanent App Error Code
ESME_RX_R_APPN: Final = 0x00000066  # ESME Receiver Reject Message Error Code
ESME_RQUERYFAIL: Final = 0x00000067
ESME_RINVOPTPARSTREAM: Final = 0x000000C0  # Error in the optional part of the PDU Body
ESME_ROPTPARNOTALLWD: Final = 0x000000C1
ESME_RINVPARLEN: Final = 0x000000C2
ESME_RMISSINGOPTPARAM: Final = 0x000000C3
ESME_RINVOPTPARAMVAL: Final = 0x000000C4
ESME_RDELIVERYFAILURE: Final = 0x000000FE
ESME_RUNKNOWNERR: Final = 0x000000FF

STATUS_NAMES: Final[dict[int, str]] = {
    value: name for name, value in dict(globals()).items()
    if name.startswith("ESME_R") and isinstance(value, int)
}

# Statuses after which a submit is tried again later rather than given up (SPEC §6).
RETRYABLE_SUBMIT: Final = frozenset({ESME_RTHROTTLED, ESME_RMSGQFUL, ESME_RSYSERR,
                                     ESME_RSUBMITFAIL, ESME_RQUERYFAIL})
THROTTLING: Final = frozenset({ESME_RTHROTTLED, ESME_RMSGQFUL})

# §5.3.2 optional parameter tags acted on somewhere in the tree.
TAG_RECEIPTED_MESSAGE_ID: Final = 0x001E
TAG_SAR_MSG_REF_NUM: Final = 0x020C
TAG_SAR_TOTAL_SEGMENTS: Final = 0x020E
TAG_SAR_SEGMENT_SEQNUM: Final = 0x020F
TAG_SC_INTERFACE_VERSION: Final = 0x0210
TAG_MESSAGE_PAYLOAD: Final = 0x0424
TAG_MESSAGE_STATE: Final = 0x0427

# §5.2.28 message_state.
MESSAGE_STATES: Final[dict[int, str]] = {
    1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD",
    7: "UNKNOWN", 8: "REJECTD"}
MESSAGE_STATE_DELIVERED: Final = 2

# §5.2.12 esm_class: bits 5..2 give the message type (0001 = SMSC delivery receipt; any
# other non-zero value is an acknowledgement or notification, never a text); bit 6 UDHI.
ESM_MESSAGE_TYPE_MASK: Final = 0x3C
ESM_DELIVERY_RECEIPT: Final = 0x04
ESM_UDHI: Final = 0x40

INTERFACE_VERSION: Final = 0x34  # §5.2.4


def command_name(command_id: int) -> str:
    name = COMMAND_NAMES.get(command_id)
    return name if name is not None else f"0x{command_id:08X}"


def status_name(status: int) -> str:
    name = STATUS_NAMES.get(status)
    return name if name is not None else f"0x{status:08X}"
