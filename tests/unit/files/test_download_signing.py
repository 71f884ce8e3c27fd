import base64
import hashlib
import hmac

import pytest

from replicast.files.signing import DownloadSigner

NOW = 1_700_000_000.0


def test_the_signature_is_replicates_hmac_of_owner_id_and_expiry():
    expected = base64.b64encode(
        hmac.new(b"k", b"mattt cneqzikepnug6xezperrr4z55o 1708515345", hashlib.sha256).digest()
    ).decode()
    signer = DownloadSigner("k")
    assert signer.signature("mattt", "cneqzikepnug6xezperrr4z55o", 1708515345) == expected
    assert signer.valid("mattt", "cneqzikepnug6xezperrr4z55o", "1708515345", expected,
                        now=1708515345)


def test_either_base64_alphabet_and_lost_padding_or_plus_signs_are_accepted():
    signer = DownloadSigner("k")
    # Find an expiry whose signature holds both '+' and '/', to exercise every form.
    expiry = next(e for e in range(2_000_000_000, 2_000_001_000)
                  if {"+", "/"} <= set(signer.signature("o", "f", e)))
    signature = signer.signature("o", "f", expiry)
    forms = [signature, signature.rstrip("="), signature.replace("+", " "),
             signature.replace("+", "-").replace("/", "_")]
    for form in forms:
        assert signer.valid("o", "f", str(expiry), form, now=NOW), form


@pytest.mark.parametrize("owner,file_id,expiry,signature", [
    ("o", "f", "2000000000", "tampered"),
    ("other", "f", "2000000000", None),
    ("o", "g", "2000000000", None),
    ("o", "f", "2000000001", None),
    ("o", "f", "1699999999", "past"),
    ("o", "f", "", None),
    ("o", "f", "-5", None),
    ("o", "f", "1e12", None),
    ("o", "f", "٢٠٠٠٠٠٠٠٠٠", None),  # digits, but not ASCII ones
    ("o", "f", "9" * 40, None),
    ("o", "f", "2000000000", ""),
    ("o", "f", "2000000000", "é" * 44),
])
def test_anything_else_is_refused(owner, file_id, expiry, signature):
    signer = DownloadSigner("k")
    good = signer.signature("o", "f", 2_000_000_000)
    if signature is None:
        signature = good
    elif signature == "past":
        signature = signer.signature("o", "f", int(expiry))
    assert signer.valid("o", "f", "2000000000", good, now=NOW)
    assert not signer.valid(owner, file_id, expiry, signature, now=NOW)


def test_another_key_signs_differently():
    assert DownloadSigner("a").signature("o", "f", 1) != DownloadSigner("b").signature("o", "f", 1)
    other = DownloadSigner("b").signature("o", "f", 2_000_000_000)
    assert not DownloadSigner("a").valid("o", "f", "2000000000", other, now=NOW)
