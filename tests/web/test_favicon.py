"""The site's icon: a small SVG from the static files, linked by every page, so browsers stop getting 404s."""

import re
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

ICON = "/static/complaints/favicon.svg"


@pytest.mark.parametrize("path", ["/", "/track/", "/track/recover/", "/console/login/", "/no/such/page/"])
def test_every_page_links_the_icon(db, path):
    html = Client().get(path).content.decode()
    assert f'<link rel="icon" href="{ICON}" type="image/svg+xml">' in html


def test_the_console_links_it_too(db):
    client = Client()
    client.force_login(get_user_model().objects.create_user("someone"))  # no staff profile: the 403 page
    assert ICON in client.get(reverse("console:queue")).content.decode()


def test_the_icon_is_served_as_svg_and_favicon_ico_leads_to_it(live_server):
    with urllib.request.urlopen(live_server.url + ICON, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("image/svg+xml")
        svg = ET.fromstring(response.read())
    assert svg.tag == "{http://www.w3.org/2000/svg}svg" and svg.get("viewBox") == "0 0 32 32"
    with urllib.request.urlopen(live_server.url + "/favicon.ico", timeout=10) as response:  # follows the redirect
        assert response.status == 200 and re.search(r"/favicon\.svg$", response.url)
