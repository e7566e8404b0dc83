"""Message summary bodies (RFC 3842 §5): the `application/simple-message-summary` of an MWI NOTIFY.

`render_message_summary(account, new, old)` gives the three lines a phone's message light reads:
`Messages-Waiting: yes|no` (yes when there is at least one new message), `Message-Account: <uri>` (what the
phone calls to listen: the mailbox access number), and `Voice-Message: new/old` (the urgent counts are not
tracked, always `(0/0)`). Lines end with CRLF as the RFC's ABNF says.

Pure: counts in, bytes out; it knows nothing of mailboxes or subscriptions.
"""

from __future__ import annotations


def render_message_summary(account: str, new: int, old: int) -> bytes:
    if new < 0 or old < 0:
        raise ValueError(f"message counts cannot be negative: {new}/{old}")
    if any(c in account for c in "\r\n\0"):
        raise ValueError("the message account must be one line")
    waiting = "yes" if new > 0 else "no"
    return (f"Messages-Waiting: {waiting}\r\n"
            f"Message-Account: {account}\r\n"
            f"Voice-Message: {new}/{old} (0/0)\r\n").encode()
