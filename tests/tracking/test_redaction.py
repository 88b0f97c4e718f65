
import pytest

from openrs.tracking.redaction import redact


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
