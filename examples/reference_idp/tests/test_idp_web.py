"""The dashboard shell: sign-in, CSRF, security headers, escaping and navigation."""

from __future__ import annotations

import pytest
from idp_helpers import csrf_from, login, make_agent, make_tenant

from reference_idp.extensions import db
from reference_idp.headers import CONTENT_SECURITY_POLICY
from reference_idp.models import Tenant

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

XSS = "<img src=x onerror=alert(1)>"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/login"),
        ("get", "/"),
        ("post", "/oauth/token"),
        ("get", "/api/v1/agents/me"),
        ("get", "/no-such-page"),
        ("get", "/static/reference_idp/app.css"),
    ],
)
def test_every_response_carries_the_csp_header(app, method, path):
    response = getattr(app.test_client(), method)(path)
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/", "/agents/new"])
def test_dashboard_pages_require_login(app, path):
    response = app.test_client().get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_wrong_password_is_refused(app):
    with app.app_context():
        make_tenant(with_user=True)
    response = login(app.test_client(), "admin@acme.test", "wrong")
    assert response.status_code == 401
    assert "Unknown email or wrong password" in response.get_data(as_text=True)


def test_login_shows_the_tenant_dashboard(app, logged_in):
    client, _ = logged_in
    html = client.get("/").get_data(as_text=True)
    assert "Acme" in html
    assert "pro" in html


def test_login_does_not_redirect_off_site(app):
    with app.app_context():
        make_tenant(with_user=True)
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login?next=//evil.example/",
        data={
            "email": "admin@acme.test",
            "password": "correct horse battery staple",
            "csrf_token": token,
        },
    )
    assert response.headers["Location"] == "/"


def test_post_without_csrf_token_is_rejected(app, logged_in):
    client, _ = logged_in
    response = client.post("/agents/new", data={"name": "sneaky"})
    assert response.status_code == 400


def test_logout_ends_the_session(app, logged_in):
    client, _ = logged_in
    token = csrf_from(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_agent_names_are_escaped(app, logged_in):
    client, tenant_id = logged_in
    with app.app_context():
        make_agent(db.session.get(Tenant, tenant_id), XSS)
    html = client.get("/").get_data(as_text=True)
    assert XSS not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_creating_an_agent_shows_its_secret_once(app, logged_in):
    client, _ = logged_in
    token = csrf_from(client.get("/agents/new").get_data(as_text=True))
    response = client.post("/agents/new", data={"name": "builder", "csrf_token": token})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    secret = response.get_data(as_text=True).split('class="copyable">')[1].split("<")[0]
    assert len(secret) >= 40
    assert secret not in client.get("/").get_data(as_text=True)


def test_agents_of_other_tenants_are_not_listed(app, logged_in):
    client, _ = logged_in
    with app.app_context():
        make_agent(make_tenant("globex"), "globex-secret-project")
    assert "globex-secret-project" not in client.get("/").get_data(as_text=True)


def test_nav_renders_visible_entries_and_marks_the_active_one(app, logged_in):
    client, _ = logged_in
    app.config["DASHBOARD_NAV"] = [
        *app.config["DASHBOARD_NAV"],
        {"label": "Hidden", "endpoint": "auth.login", "visible": lambda: False},
        {"label": "Shown", "endpoint": "auth.login", "visible": lambda: True},
    ]
    html = client.get("/").get_data(as_text=True)
    assert '<a href="/" class="active" aria-current="page">Agents</a>' in html
    assert ">Shown</a>" in html
    assert "Hidden" not in html


def test_pages_link_only_static_assets(app, logged_in):
    """The CSP forbids inline script and style, so the shell must not use them."""
    client, _ = logged_in
    html = client.get("/").get_data(as_text=True)
    assert "<style" not in html
    assert " style=" not in html
    assert "<script>" not in html
    assert " onclick=" not in html
