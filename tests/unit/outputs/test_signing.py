from urllib.parse import unquote, urlsplit

from replicast.outputs.signing import OutputLinks

BASE = "https://r.example/prefix"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def parts(url: str) -> tuple[str, str]:
    """The resource a signed URL names, and its proof."""
    proof, _, resource = urlsplit(url).path.removeprefix("/prefix/outputs/").partition("/")
    return resource, proof


def test_a_signed_url_is_valid_until_it_expires_and_not_after():
    clock = Clock(1_000_000.0)
    links = OutputLinks("key", ttl=3600, clock=clock)
    url = links.sign(f"{BASE}/outputs/p1/f1/out-0.webp", BASE, "p1")
    assert url.endswith("/p1/f1/out-0.webp")  # still ends with the file's name
    resource, proof = parts(url)
    assert resource == "p1/f1/out-0.webp"
    assert links.valid(resource, proof)
    expires = int(proof.split(".")[0])
    # At least one TTL, at most two.
    assert 3600 <= expires - clock.now <= 7200
    clock.now = expires + 1
    assert not links.valid(resource, proof)


def test_tampering_with_any_part_breaks_the_signature():
    links = OutputLinks("key", ttl=3600, clock=Clock(1_000_000.0))
    resource, proof = parts(links.sign(f"{BASE}/outputs/p1/f1/out-0.webp", BASE, "p1"))
    expires, signature = proof.split(".")
    assert not links.valid("p1/f1/out-1.webp", proof)
    assert not links.valid("p2/f1/out-0.webp", proof)
    assert not links.valid(resource, f"{int(expires) + 3600}.{signature}")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    assert not links.valid(resource, f"{expires}.{flipped}")
    for broken in (expires, f"{expires}.", f".{signature}", signature, "",
                   "\uff11\uff12\uff13." + signature):  # the last: digits, not ASCII ones
        assert not links.valid(resource, broken)
    assert not OutputLinks("another key", ttl=3600, clock=Clock(1_000_000.0)).valid(
        resource, proof)


def test_the_same_output_signs_alike_within_a_step_so_polls_and_webhooks_agree():
    clock = Clock(7200.0 * 100 + 10)
    links = OutputLinks("key", ttl=3600, clock=clock)
    first = links.sign([f"{BASE}/outputs/p/f/a.png"], BASE, "p")
    clock.now += 3000
    assert links.sign([f"{BASE}/outputs/p/f/a.png"], BASE, "p") == first
    clock.now += 1000  # into the next step
    assert links.sign([f"{BASE}/outputs/p/f/a.png"], BASE, "p") != first


def test_only_this_servers_output_urls_are_signed_wherever_they_are_in_the_output():
    links = OutputLinks("key", ttl=60, clock=Clock(0.0))
    output = {"images": [f"{BASE}/outputs/p/f/a%20b.png", "https://elsewhere.example/x.png"],
              "text": "plain", "n": 3, "nested": {"file": f"{BASE}/outputs/p/f/c.txt"},
              "none": None}
    signed = links.sign(output, BASE, "p")
    assert signed["images"][1] == "https://elsewhere.example/x.png"
    assert (signed["text"], signed["n"], signed["none"]) == ("plain", 3, None)
    for url in (signed["images"][0], signed["nested"]["file"]):
        resource, proof = parts(url)
        assert links.valid(resource.replace("%20", " "), proof)
    assert output["images"][0].endswith("a%20b.png")  # the stored value is left alone


def test_another_predictions_file_urls_are_left_unsigned():
    # A model that echoes text must not renew links to files that are not its own.
    links = OutputLinks("key", ttl=60, clock=Clock(0.0))
    output = [f"{BASE}/outputs/other/f/a.png", f"{BASE}/outputs/p/f/b.png",
              f"{BASE}/outputs/p-longer/f/c.png"]
    signed = links.sign(output, BASE, "p")
    assert signed[0] == output[0] and signed[2] == output[2]
    assert signed[1] != output[1]


def test_an_expiry_further_ahead_than_links_are_signed_for_is_refused():
    clock = Clock(1_000_000.0)
    links = OutputLinks("key", ttl=3600, clock=clock)
    resource = "p1/f1/out-0.webp"

    def minted(expires: float) -> str:
        """A proof made with the key itself: stolen from the database, say."""
        return f"{int(expires)}.{links.signature(resource, int(expires))}"

    # The furthest this process signs is two TTLs ahead; a minute more for other clocks.
    assert links.valid(resource, minted(clock.now + 7200))
    assert links.valid(resource, minted(clock.now + 7200 + 60))
    assert not links.valid(resource, minted(clock.now + 7200 + 61))
    assert not links.valid(resource, minted(clock.now + 10 * 365 * 86400))
    assert not links.valid(resource, minted(99999999999))
    # A link that was fine when signed stays fine until it expires.
    proof = minted(clock.now + 7200)
    clock.now += 7000
    assert links.valid(resource, proof)


def test_presigned_links_replace_only_the_predictions_own_files():
    calls = []

    def presigner(resource, *, signed_at, expires):
        calls.append((resource, signed_at, expires))
        return None if resource.count("/") != 2 else f"https://bucket.example/{resource}?sig"

    clock = Clock(1_000_000.0)
    links = OutputLinks("key", ttl=3600, clock=clock, presigner=presigner,
                        presigned_origin="https://bucket.example")
    output = [f"{BASE}/outputs/p1/f1/out%200.webp", f"{BASE}/outputs/p2/f1/x.png",
              "https://elsewhere.example/a.png", f"{BASE}/outputs/p1/a/b/c.png"]
    signed = links.sign(output, BASE, "p1")
    assert signed[0] == "https://bucket.example/p1/f1/out 0.webp?sig"
    assert signed[1:3] == output[1:3]  # another prediction's file, and no file of ours
    # A resource no file could be (the presigner declines) keeps Replicast's own link.
    assert signed[3].startswith(f"{BASE}/outputs/") and "/p1/a/b/c.png" in signed[3]
    expires = (1_000_000 // 3600 + 2) * 3600
    assert calls[0] == ("p1/f1/out 0.webp", expires - 2 * 3600, expires)
    assert links.foreign_origin == "https://bucket.example"
    # The pages' links are never presigned, and need no other origin.
    own = links.own
    assert own.foreign_origin is None
    assert own.sign(output[0], BASE, "p1").startswith(f"{BASE}/outputs/")
    resource, proof = parts(own.sign(output[0], BASE, "p1"))
    assert links.valid(unquote(resource), proof)
