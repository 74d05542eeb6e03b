"""The fingerprint of a keyed request: a multipart body's boundary, new on every attempt a
client builds, does not change it, wherever the server's reads cut the body."""

from __future__ import annotations

from ragops.idempotency.fingerprint import RequestFingerprint, multipart_boundary


def body(boundary: bytes, text: bytes) -> bytes:
    return (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="files"; filename="a.md"\r\n'
        b"Content-Type: text/markdown\r\n\r\n" + text + b"\r\n--" + boundary + b"--\r\n"
    )


def fingerprint(content_type: bytes, payload: bytes, cut: int | None = None) -> str:
    hasher = RequestFingerprint("POST", "/v1/documents", b"", multipart_boundary(content_type))
    for piece in (payload,) if cut is None else (payload[:cut], payload[cut:]):
        hasher.update(piece)
    return hasher.hexdigest()


def test_the_boundary_does_not_change_the_fingerprint_wherever_the_body_is_cut() -> None:
    first = body(b"aaaa1111", b"# A\n\nsame text")
    second = body(b"------------------------b2c3d4e5f6", b"# A\n\nsame text")
    expected = fingerprint(b"multipart/form-data; boundary=aaaa1111", first)
    header = b'multipart/form-data; boundary="------------------------b2c3d4e5f6"'
    for cut in range(len(second) + 1):
        assert fingerprint(header, second, cut) == expected, cut


def test_other_content_or_bodies_that_are_not_multipart_still_differ() -> None:
    header = b"multipart/form-data; boundary=aaaa1111"
    assert fingerprint(header, body(b"aaaa1111", b"one")) != fingerprint(
        header, body(b"aaaa1111", b"two")
    )
    assert multipart_boundary(b"application/json") is None
    assert multipart_boundary(None) is None
    assert multipart_boundary(b"multipart/form-data") is None
    json_a, json_b = b'{"question": "a"}', b'{"question": "b"}'
    assert fingerprint(b"application/json", json_a) != fingerprint(b"application/json", json_b)
    assert fingerprint(b"application/json", json_a, 5) == fingerprint(b"application/json", json_a)
