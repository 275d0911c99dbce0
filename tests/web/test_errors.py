import pytest
from django.test import Client


@pytest.mark.django_db
def test_an_unknown_page_is_a_chinese_404():
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    assert "找不到该页面" in response.content.decode()


@pytest.mark.django_db
def test_an_unknown_api_version_is_json():
    response = Client().get("/api/v2/complaints")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_a_disallowed_host_under_api_is_a_json_400():
    response = Client(HTTP_HOST="evil.example").get("/api/v1/openapi.json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
