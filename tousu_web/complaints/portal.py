"""The complainant portal (Simplified Chinese, works on a phone)."""

app_name = "portal"
urlpatterns: list = []
