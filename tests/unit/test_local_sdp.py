"""The inactive session of a call answered by the server itself (RFC 3264 §6, §5.1)."""

from __future__ import annotations

from sipserver.b2bua.sdp import inactive_session

OFFER = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         b"m=audio 4000 RTP/AVP 96 0\r\na=rtpmap:96 opus/48000/2\r\nm=video 4002 RTP/AVP 97\r\n")


def test_answer_keeps_every_stream_in_order_inactive_with_an_offered_format() -> None:
    lines = inactive_session(OFFER, "127.0.0.1", 7).decode().splitlines()
    assert [line for line in lines if line.startswith("m=")] == ["m=audio 9 RTP/AVP 96", "m=video 9 RTP/AVP 97"]
    assert "a=rtpmap:96 opus/48000/2" in lines and lines.count("a=inactive") == 2
    assert "c=IN IP4 127.0.0.1" in lines


def test_late_offer_gets_an_inactive_pcmu_offer_over_ipv6() -> None:
    text = inactive_session(b"", "::1", 7).decode()
    assert "c=IN IP6 ::1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=inactive\r\n" in text
