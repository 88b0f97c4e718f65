from pathlib import Path

from openrs.config.job import TrackingConfig
from openrs.tracking.server import healthy, serve


def test_local_server_listens_on_localhost_only(tmp_path, free_port):
    tracking = TrackingConfig(uri=f"http://127.0.0.1:{free_port()}", experiment=None,
                              serve=f"sqlite:///{tmp_path}/mlflow.db", registered_model=None)  # fmt: skip
    proc = serve(tracking)
    try:
        assert healthy(tracking.uri)
        assert serve(tracking) is None  # one is running: no second server
        port = tracking.uri.rsplit(":", 1)[1]
        listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
        local = [line.split()[1] for line in listening if line.split()[3] == "0A"]  # LISTEN sockets
        assert f"0100007F:{int(port):04X}" in local and f"00000000:{int(port):04X}" not in local
    finally:
        proc.terminate()
        proc.wait()
