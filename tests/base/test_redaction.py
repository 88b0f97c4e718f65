"""Redaction: URI credentials whatever the password holds, secret environment values; plain URIs untouched."""

import re

import pytest

from openrs.base.redaction import redact


def test_redact_removes_uri_credentials_and_secret_environment_values(monkeypatch, secret):
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.setenv("HOME_DIR_NAME", "notsecretvalue")
    text = redact(f"http://alice:pw@host:5000/x token={secret} keep notsecretvalue")
    assert text == "http://***@host:5000/x token=*** keep notsecretvalue"


@pytest.mark.parametrize("name", ["HF_TOKEN", "WANDB_SECRET", "DB_PASSWORD", "OPENAI_API_KEY", "APIKEY",
                                  "AWS_ACCESS_KEY_ID", "SSH_PRIVATE_KEY", "GOOGLE_APPLICATION_CREDENTIALS",
                                  "MLFLOW_TRACKING_AUTH", "hf_token"])  # fmt: skip
def test_redact_covers_every_secret_name_pattern(monkeypatch, name, secret):
    monkeypatch.setenv(name, secret)
    assert redact(f"logged {secret} here") == "logged *** here"


# Passwords with every character a URI's password may hold raw (SQLAlchemy takes `/`, spaces, `@` and `:`) or
# percent-escaped.
PASSWORDS = ["pa/ss/word", "pa ss word", "p@ss@word", "pa:ss:word", "p%40ss%2Fw%20rd%3A"]
SCHEMES = ["http://", "https://", "postgresql+psycopg2://", "mysql://", "databricks://"]


@pytest.mark.parametrize("password", PASSWORDS)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_no_password_survives_whatever_it_holds(scheme, password):
    from urllib.parse import unquote

    uri = f"{scheme}alice:{password}@db.example.org:5432/mlflow"
    texts = [
        uri,
        f"tracking.uri={uri!r}: MLflow cannot be reached (password {unquote(password)} rejected for {uri})",
        f"tracking:\n  uri: {uri}\n  experiment: null\n",  # the job.yaml artifact
        f"Traceback ...\nsqlalchemy.exc.OperationalError: ({uri}) could not connect; user alice password {password}",
    ]
    for text in texts:
        redacted = redact(text)
        assert password not in redacted and unquote(password) not in redacted, redacted
        # No piece of it either: what is left of the URI is its scheme and host.
        assert f"{scheme}***@db.example.org:5432/mlflow" in redacted, redacted
        assert not {piece for piece in re.split(r"[/ @:%]", unquote(password)) if len(piece) > 2} & set(
            re.split(r"[\s'\"()/,:@]", redacted)
        ), redacted


@pytest.mark.parametrize("text", ["sqlite:////tmp/outputs/mlflow.db", "http://127.0.0.1:5000/#/experiments/1",
                                  "see http://host/x, written by a@b.org", "https://[::1]:5000/api"])  # fmt: skip
def test_uris_without_credentials_are_left_as_they_are(text):
    assert redact(text) == text


@pytest.mark.parametrize("password", PASSWORDS)
def test_a_password_is_found_whatever_it_holds(password):
    from openrs.base.redaction import holds_password

    assert holds_password(f"postgresql://alice:{password}@db.example.org:5432/mlflow")
    assert holds_password(f"http://alice:{password}@127.0.0.1:5000")


@pytest.mark.parametrize("uri", ["http://127.0.0.1:5000", "sqlite:///outputs/mlflow.db", "http://alice@host:5000",
                                 "sqlite:////data/a@b/mlflow.db", "databricks"])  # fmt: skip
def test_a_uri_without_a_password_holds_none(uri):
    from openrs.base.redaction import holds_password

    assert not holds_password(uri)
