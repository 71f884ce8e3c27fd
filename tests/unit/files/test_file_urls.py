import pytest

from replicast.files.urls import download_url, file_url, own_file_id

BASE = "https://api.example.com:8443"
ID = "cneqzikepnug6xezperrr4z55o"


def test_urls_are_built_on_the_base():
    assert file_url(BASE, ID) == f"{BASE}/v1/files/{ID}"
    assert download_url(BASE, ID, owner="a b", expiry=5, signature="x+/=") == (
        f"{BASE}/v1/files/{ID}/download?owner=a+b&expiry=5&signature=x%2B%2F%3D")


@pytest.mark.parametrize("url", [
    f"{BASE}/v1/files/{ID}",
    f"{BASE}/replicate/v1/files/{ID}",
    f"{BASE}/v1/files/{ID}/download",
    f"{BASE}/replicate/v1/files/{ID}/download?owner=a&expiry=1&signature=s",
    f"{BASE}/v1/files/{ID}#fragment",
])
def test_this_servers_file_urls_are_recognised(url):
    assert own_file_id(url, BASE) == ID


@pytest.mark.parametrize("url", [
    f"https://api.example.com/v1/files/{ID}",  # another port is another server
    f"http://api.example.com:8443/v1/files/{ID}",
    f"{BASE}.evil.com/v1/files/{ID}",
    f"https://evil.com/?{BASE}/v1/files/{ID}",
    f"{BASE}/v1/files/",
    f"{BASE}/v1/files/{ID}/other",
    f"{BASE}/v1/predictions/{ID}",
    f"{BASE}/v2/files/{ID}",
    f"{BASE}/outputs/{ID}/x/y.png",
    "data:text/plain,hi",
])
def test_other_urls_are_not(url):
    assert own_file_id(url, BASE) is None
