"""Certificates made at test time with ``cryptography``: a CA, a broker certificate for
127.0.0.1, client certificates (one with an encrypted key), and a second CA nobody trusts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALID = timedelta(days=2)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@dataclass(frozen=True)
class CertificateAuthority:
    name: str
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls, name: str) -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + _VALID)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(name, key, certificate)

    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue(self, common_name: str, *, server: bool) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
        """A key and a PEM certificate chain (leaf, then this CA) for a server on 127.0.0.1 or a
        client."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + _VALID)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
        leaf = builder.sign(self.key, hashes.SHA256())
        return key, leaf.public_bytes(serialization.Encoding.PEM) + self.pem()


def key_pem(key: ec.EllipticCurvePrivateKey, password: str | None = None) -> bytes:
    """PKCS#8 PEM, encrypted with ``password`` when one is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if password is None
        else serialization.BestAvailableEncryption(password.encode())
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


@dataclass(frozen=True)
class SecurityFiles:
    """Every file the secured broker and its clients need, under one folder."""

    ca: Path  # the CA that signed the broker and the trusted clients
    broker_keystore: Path  # broker key + chain, for the broker
    client_cert: Path
    client_key: Path
    client_key_encrypted: Path
    client_key_password: str
    client_combined: Path  # key and certificate chain in one file
    stranger_ca: Path  # a CA nobody trusts
    stranger_cert: Path  # a client certificate signed by the stranger CA
    stranger_key: Path

    @classmethod
    def create(cls, folder: Path, key_password: str) -> SecurityFiles:
        folder.mkdir(parents=True, exist_ok=True)
        ca = CertificateAuthority.create("feeder test CA")
        stranger = CertificateAuthority.create("stranger CA")
        broker_key, broker_chain = ca.issue("kafka-broker", server=True)
        client_key, client_chain = ca.issue("feeder", server=False)
        stranger_key, stranger_chain = stranger.issue("impostor", server=False)

        def write(name: str, data: bytes) -> Path:
            path = folder / name
            path.write_bytes(data)
            path.chmod(0o600)
            return path

        return cls(
            ca=write("ca.pem", ca.pem()),
            broker_keystore=write("broker.pem", key_pem(broker_key) + broker_chain),
            client_cert=write("client.crt.pem", client_chain),
            client_key=write("client.key.pem", key_pem(client_key)),
            client_key_encrypted=write(
                "client.key.encrypted.pem", key_pem(client_key, key_password)
            ),
            client_key_password=key_password,
            client_combined=write("client.pem", key_pem(client_key) + client_chain),
            stranger_ca=write("stranger-ca.pem", stranger.pem()),
            stranger_cert=write("stranger.crt.pem", stranger_chain),
            stranger_key=write("stranger.key.pem", key_pem(stranger_key)),
        )
