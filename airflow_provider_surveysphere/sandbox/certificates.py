"""Sandbox HTTPS certificates: a throwaway CA and server certificate, via cryptography or openssl."""

from __future__ import annotations

import ipaddress
import secrets
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any


def _write_certificates(directory: Path, host: str) -> tuple[Path, Path, Path]:
    """Write a throwaway CA and a server certificate it signed; return (CA, cert, key) paths.

    A separate CA (rather than one self-signed leaf) satisfies strict X.509 verification, which
    newer Pythons enable by default.
    """
    names = ["localhost", "127.0.0.1"] + ([host] if host not in ("localhost", "127.0.0.1") else [])
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return _certificates_with_openssl(directory, names)
    return _certificates_with_cryptography(directory, names)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _certificates_with_cryptography(directory: Path, names: list[str]) -> tuple[Path, Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def usage(**enabled: bool) -> x509.KeyUsage:
        flags = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                 "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
        return x509.KeyUsage(**{flag: enabled.get(flag, False) for flag in flags})

    now = datetime.now(timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())

    def builder(subject: str, public_key: Any) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(name(subject))
                .issuer_name(name("SurveySphere sandbox CA")).public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=7))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))

    ca_cert = (builder("SurveySphere sandbox CA", ca_key.public_key())
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
               .sign(ca_key, hashes.SHA256()))
    alt_names = [x509.IPAddress(ipaddress.ip_address(n)) if _is_ip(n) else x509.DNSName(n) for n in names]
    cert = (builder("localhost", key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def _certificates_with_openssl(directory: Path, names: list[str]) -> tuple[Path, Path, Path]:
    ca, ca_key = directory / "ca.pem", directory / "ca-key.pem"
    cert, key, csr = directory / "cert.pem", directory / "key.pem", directory / "cert.csr"
    extensions = directory / "ext.cnf"
    alt_names = ",".join(f"IP:{n}" if _is_ip(n) else f"DNS:{n}" for n in names)
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        f"extendedKeyUsage=serverAuth\nsubjectAltName={alt_names}\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(["req", "-x509", *new_key, "-keyout", str(ca_key), "-out", str(ca), "-days", "7",
         "-subj", "/CN=SurveySphere sandbox CA",
         "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    _openssl(["req", "-new", *new_key, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost"])
    _openssl(["x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-set_serial",
         str(secrets.randbits(63)), "-days", "7", "-sha256", "-extfile", str(extensions), "-out", str(cert)])
    return ca, cert, key


def _openssl(args: list[str]) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)
