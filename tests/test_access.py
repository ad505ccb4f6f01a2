"""Who may see what: password hashes, roles, pages per role, local and non-local addresses (igcore.dashboard.access),
the start check of `igcore app`, and the router under AppTest with a login configured."""

from __future__ import annotations

import base64

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.util import patch_config_options
from streamlit.util import calc_hash

from igcore.cli import main
from igcore.dashboard import access, serve
from igcore.dashboard.access import AccessConfigError, AuthConfig
from tests.conftest import REPO

# RFC 7914 section 12: scrypt("pleaseletmein", "SodiumChloride", N=16384, r=8, p=1), first 32 of its 64 bytes.
RFC_DIGEST = bytes.fromhex("7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2")
RFC_HASH = ("scrypt$16384$8$1$" + base64.b64encode(b"SodiumChloride").decode() + "$"
            + base64.b64encode(RFC_DIGEST).decode())
ANALYST_PW, VIEWER_PW = "analyst-secret-1", "viewer-secret-22"
CHEAP = {"n": 2**10, "r": 8, "p": 1}  # quick hashes for the tests that only need some hash


def test_hash_is_scrypt_in_the_stored_format_with_the_rfc_value():
    assert access.hash_password("pleaseletmein", salt=b"SodiumChloride") == RFC_HASH
    assert access.verify_password("pleaseletmein", RFC_HASH)
    assert not access.verify_password("pleaseletmeim", RFC_HASH)
    assert not access.verify_password("", RFC_HASH)


def test_hashes_are_salted_and_verify():
    one, two = access.hash_password("pw", **CHEAP), access.hash_password("pw", **CHEAP)
    assert one != two and one.startswith("scrypt$1024$8$1$")
    assert access.verify_password("pw", one) and access.verify_password("pw", two)
    with pytest.raises(AccessConfigError, match="empty"):
        access.hash_password("")


@pytest.mark.parametrize("stored", ["", "pbkdf2$1$2$3$4$5", "scrypt$16384$8$1$U29kaXVt", "scrypt$x$8$1$AAAA$AAAA",
                                    "scrypt$1000$8$1$" + "A" * 24 + "$" + "A" * 44,  # n not a power of two
                                    "scrypt$16384$8$1$!!!!$" + "A" * 44,
                                    "scrypt$2097152$8$1$" + "A" * 24 + "$" + "A" * 44])
def test_malformed_hashes_are_configuration_errors(stored):
    with pytest.raises(AccessConfigError, match="hash"):
        access.verify_password("pw", stored)


def test_role_for_password_checks_analyst_first_and_returns_none_otherwise():
    hashes = {"analyst": access.hash_password(ANALYST_PW, **CHEAP), "viewer": access.hash_password(VIEWER_PW, **CHEAP)}
    assert access.role_for_password(ANALYST_PW, hashes) == "analyst"
    assert access.role_for_password(VIEWER_PW, hashes) == "viewer"
    assert access.role_for_password("guess", hashes) is None
    assert access.role_for_password(VIEWER_PW, {"analyst": hashes["analyst"]}) is None
    same = {"analyst": access.hash_password("x", **CHEAP), "viewer": access.hash_password("x", **CHEAP)}
    assert access.role_for_password("x", same) == "analyst"


def test_role_for_email():
    analysts, viewers = access.parse_emails("Ann@Shop.example, bo@shop.example"), access.parse_emails("cy@shop.example")
    assert analysts == {"ann@shop.example", "bo@shop.example"}
    assert access.role_for_email("ANN@shop.example", analysts, viewers) == "analyst"
    assert access.role_for_email("cy@shop.example", analysts, viewers) == "viewer"
    assert access.role_for_email("eve@else.example", analysts, viewers) is None
    assert access.role_for_email(None, analysts, viewers) is None
    assert access.role_for_email("eve@else.example", analysts, frozenset({"*"})) == "viewer"
    assert access.role_for_email(None, frozenset({"*"}), frozenset()) == "analyst"


def test_pages_per_role():
    assert access.pages_for("analyst") == ("home", "data", "pipeline", "explorer", "live", "cohorts")
    assert access.pages_for("viewer") == ("cohorts",)
    assert access.pages_for(None) == ()
    assert access.can_see_user_data("analyst") and not access.can_see_user_data("viewer")
    assert not access.can_see_user_data(None)


@pytest.mark.parametrize("address,local", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("LOCALHOST", True), ("0.0.0.0", False), ("::", False), ("", False), (None, False), ("192.168.1.5", False),
    ("10.0.0.1", False), ("my-host", False), ("localhost.evil.example", False)])
def test_local_addresses(address, local):
    assert access.is_local_address(address) is local


def test_when_a_login_is_required_and_when_serving_is_refused():
    none, pw = AuthConfig(), AuthConfig(password_hashes={"viewer": RFC_HASH})
    assert not access.login_required("127.0.0.1", none)
    assert access.login_required("127.0.0.1", pw)  # configured: used everywhere (a proxy may front 127.0.0.1)
    assert access.login_required("0.0.0.0", pw) and access.login_required(None, none)
    access.check_can_serve("127.0.0.1", none)
    access.check_can_serve("0.0.0.0", pw)
    with pytest.raises(AccessConfigError, match=r"refusing to serve the dashboard on 0\.0\.0\.0 without a login"):
        access.check_can_serve("0.0.0.0", none)
    with pytest.raises(AccessConfigError, match="every interface"):
        access.check_can_serve(None, none)


OIDC = {"auth": {"redirect_uri": "https://igs.example/oauth2callback", "cookie_secret": "s" * 32,
                 "client_id": "cid", "client_secret": "x", "server_metadata_url": "https://idp.example/.well-known"}}


def test_auth_config_from_environment_and_secrets():
    env = {access.ANALYST_HASH_ENV: RFC_HASH, access.ANALYSTS_ENV: "a@x.example", access.VIEWERS_ENV: "*"}
    config = access.auth_config(env, {})
    assert config.password_hashes == {"analyst": RFC_HASH} and config.method == "password" and config.configured
    assert config.analysts == {"a@x.example"} and config.viewers == {"*"}
    assert access.auth_config({}, {}).method == "none"
    assert access.auth_config(env, OIDC).method == "oidc" and access.auth_config({}, OIDC).oidc_providers == ()
    named = {"auth": {"redirect_uri": "u", "cookie_secret": "c", "google": {"client_id": "g"},
                      "okta": {"client_id": "o"}}}
    assert access.oidc_providers(named) == (True, ("google", "okta"))
    assert access.oidc_providers({"auth": {"redirect_uri": "u", "client_id": "c"}}) == (False, ())  # no secret
    with pytest.raises(AccessConfigError, match=access.VIEWER_HASH_ENV):
        access.auth_config({access.VIEWER_HASH_ENV: "plain-password"}, {})


def test_login_throttle_refuses_after_the_limit_until_the_window_passes():
    now = [100.0]
    throttle = access.LoginThrottle(limit=3, window_s=60.0, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.wait_s() == 0.0
        throttle.failed()
    assert throttle.wait_s() == 60.0
    now[0] = 130.0
    assert throttle.wait_s() == 30.0
    now[0] = 160.0
    assert throttle.wait_s() == 0.0


def test_hash_password_module_command(monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-phrase\n"))
    assert access.hash_password_command(["hash-password"]) == 0
    printed = capsys.readouterr().out.strip()
    assert access.verify_password("s3cret-phrase", printed)


def test_igcore_app_refuses_a_non_local_address_without_a_login(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml here
    for name in (access.ANALYST_HASH_ENV, access.VIEWER_HASH_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(serve, "secrets_files", lambda: [tmp_path / "none.toml"])
    assert main(["app", "--address", "0.0.0.0", "--db", str(tmp_path / "s.duckdb")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("igcore: error: refusing to serve the dashboard on 0.0.0.0 without a login")
    assert len(err.strip().splitlines()) == 1
    monkeypatch.setenv(access.VIEWER_HASH_ENV, "not-a-hash")
    assert main(["app", "--address", "0.0.0.0"]) == 1
    assert "IGCORE_VIEWER_PASSWORD_HASH: a password hash must look like" in capsys.readouterr().err


def test_start_check_reads_the_secrets_files(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[auth]\nredirect_uri = "https://igs.example/oauth2callback"\ncookie_secret = "c"\n'
                       'client_id = "id"\n')
    assert serve.check_start("0.0.0.0", {}, serve.read_secrets([secrets, tmp_path / "absent.toml"])).method == "oidc"
    secrets.write_text("[auth\n")
    with pytest.raises(AccessConfigError, match="cannot read the secrets file"):
        serve.read_secrets([secrets])


# --- the router under AppTest: a non-local address with passwords configured ---------------------------------
@pytest.fixture
def team_env(monkeypatch, tmp_path):
    """Passwords for both roles, a tiny store with one user, and server.address = 0.0.0.0."""
    from tests.conftest import one_user_store

    monkeypatch.setenv(access.ANALYST_HASH_ENV, access.hash_password(ANALYST_PW, **CHEAP))
    monkeypatch.setenv(access.VIEWER_HASH_ENV, access.hash_password(VIEWER_PW, **CHEAP))
    monkeypatch.setattr(serve, "secrets_files", lambda: [])
    db = tmp_path / "team.duckdb"
    monkeypatch.setenv("IGCORE_DB", str(db))
    one_user_store(db, tmp_path, "U-SECRET-7", 1000)
    with patch_config_options({"server.address": "0.0.0.0"}):
        yield db


def _run(at: AppTest) -> AppTest:
    with patch_config_options({"server.address": "0.0.0.0"}):
        return at.run()


def _log_in(at: AppTest, password: str) -> AppTest:
    at.text_input[0].input(password)
    at.button[0].click()
    return _run(at)


def test_a_visitor_sees_only_the_login_form_and_a_wrong_password_is_refused(team_env):
    at = _run(AppTest.from_file(str(REPO / "app.py"), default_timeout=60))
    assert not at.exception
    assert [t.label for t in at.text_input] == ["Password"] and not at.metric and not at.dataframe
    assert [t.value for t in at.title] == ["Interest Graph Studio"]
    _log_in(at, "guess")
    assert [e.value for e in at.error] == ["Wrong password."] and not at.metric


def test_a_viewer_gets_only_the_private_cohort_releases_even_when_asking_for_user_pages(team_env):
    at = _log_in(_run(AppTest.from_file(str(REPO / "app.py"), default_timeout=60)), VIEWER_PW)
    assert not at.exception
    assert [t.value for t in at.title] == ["Cohorts"]
    assert {m.label for m in at.metric} == {"Epsilon spent", "Epsilon left", "Releases"}  # no exact count
    tables = [d.value.columns.tolist() for d in at.dataframe]  # the trend's noisy table, if not suppressed
    assert tables[-1] == ["released_at", "query", "params", "epsilon"] and len(tables) <= 2  # and the ledger
    assert not any("user_id" in t for t in tables)  # no single user's change points
    assert "Logged in as viewer" in [c.value for c in at.sidebar.caption]
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/explorer.py")  # not registered for a viewer
    at._page_hash = calc_hash("explorer")  # what a request for /explorer asks for (AppTest has no public way)
    _run(at)
    assert not at.exception
    assert "User explorer" not in [t.value for t in at.title]
    assert all("U-SECRET-7" not in str(el.value) for el in [*at.markdown, *at.caption, *at.selectbox, *at.dataframe])


def test_an_analyst_gets_the_explorer(team_env):
    at = _log_in(_run(AppTest.from_file(str(REPO / "app.py"), default_timeout=60)), ANALYST_PW)
    assert not at.exception and at.dataframe  # the imports table
    at.switch_page("pages/explorer.py")
    _run(at)
    assert "User explorer" in [t.value for t in at.title]


def test_a_non_local_address_without_a_login_shows_only_the_refusal(monkeypatch, tmp_path):
    for name in (access.ANALYST_HASH_ENV, access.VIEWER_HASH_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(serve, "secrets_files", lambda: [])
    monkeypatch.setenv("IGCORE_DB", str(tmp_path / "s.duckdb"))
    at = _run(AppTest.from_file(str(REPO / "app.py"), default_timeout=60))
    assert not at.exception
    assert at.error[0].value.startswith("refusing to serve the dashboard on 0.0.0.0 without a login")
    assert not at.metric and not at.text_input and not (tmp_path / "s.duckdb").exists()
