"""A throw-away certificate authority for the TLS tests, made with openssl and keytool as an
operator would: the CA, a server certificate for 127.0.0.1 and localhost (the broker's and
PostgreSQL's), a client certificate for mutual TLS, and the broker's Java key and trust stores.
"""

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["STORE_PASSWORD", "Authority", "make_authority", "make_other_authority"]

# deploy/local/kafka-sasl.sh reads the stores with this password.
STORE_PASSWORD = "changeit"
_DAYS = "2"


@dataclass(frozen=True)
class Authority:
    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def server_cert(self) -> Path:
        return self.folder / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.folder / "server.key"

    @property
    def client_cert(self) -> Path:
        return self.folder / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.folder / "client.key"


def _run(*command: str | Path, cwd: Path) -> None:
    result = subprocess.run(
        [str(c) for c in command], cwd=cwd, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed:\n{result.stderr}")


def _leaf(folder: Path, ca_name: str, name: str, subject: str, extensions: str) -> None:
    """A key and a certificate signed by the CA ``ca_name``."""
    (folder / f"{name}.ext").write_text(extensions)
    _run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
         "-out", f"{name}.key", cwd=folder)  # fmt: skip
    _run("openssl", "req", "-new", "-key", f"{name}.key", "-subj", subject,
         "-out", f"{name}.csr", cwd=folder)  # fmt: skip
    _run("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca_name}.pem",
         "-CAkey", f"{ca_name}.key", "-CAcreateserial", "-days", _DAYS, "-sha256",
         "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=folder)  # fmt: skip


def _ca(folder: Path, name: str, subject: str) -> None:
    _run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
         "-out", f"{name}.key", cwd=folder)  # fmt: skip
    _run("openssl", "req", "-x509", "-new", "-key", f"{name}.key", "-sha256", "-days", _DAYS,
         "-subj", subject, "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", f"{name}.pem",
         cwd=folder)  # fmt: skip


def make_authority(folder: Path, *, java_stores: bool = True) -> Authority:
    """A CA with server and client certificates in ``folder`` (emptied first); with
    ``java_stores`` also broker.keystore.jks and truststore.jks for the broker."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    _ca(folder, "ca", "/CN=orderstate test CA")
    _leaf(
        folder,
        "ca",
        "server",
        "/CN=localhost",
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    _leaf(folder, "ca", "client", "/CN=orderstate-client", "extendedKeyUsage=clientAuth\n")
    if java_stores:
        _run("openssl", "pkcs12", "-export", "-in", "server.pem", "-inkey", "server.key",
             "-certfile", "ca.pem", "-name", "broker", "-out", "server.p12",
             "-passout", f"pass:{STORE_PASSWORD}", cwd=folder)  # fmt: skip
        _run("keytool", "-importkeystore", "-noprompt", "-srckeystore", "server.p12",
             "-srcstoretype", "PKCS12", "-srcstorepass", STORE_PASSWORD,
             "-destkeystore", "broker.keystore.jks", "-deststoretype", "JKS",
             "-deststorepass", STORE_PASSWORD, "-destkeypass", STORE_PASSWORD,
             cwd=folder)  # fmt: skip
        _run("keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", "ca.pem",
             "-keystore", "truststore.jks", "-storetype", "JKS",
             "-storepass", STORE_PASSWORD, cwd=folder)  # fmt: skip
    return Authority(folder)


def make_other_authority(folder: Path) -> Path:
    """The certificate of an unrelated CA: what a client with the wrong CA file trusts."""
    folder.mkdir(parents=True, exist_ok=True)
    _ca(folder, "other-ca", "/CN=some other CA")
    return folder / "other-ca.pem"
