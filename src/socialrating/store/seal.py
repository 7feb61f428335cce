"""The sealed manifest: every file's sha256, one published head, an Ed25519 signature.

Why: the ledger's hash chain alone proves nothing if whoever can edit the folder can also
rebuild the chain and the manifest that anchors it. So

* ``manifest.json`` lists the sha256 of every file of the run (``files``), except the
  ledger store, which is covered by its content (every row hash, block digest and change
  hash is recomputed and its heads compared), and outputs re-derived from the run by other
  commands (`UNSEALED`);
* ``head`` combines the store's two chain heads into one value to publish elsewhere
  (``sha256("socialrating-head-v1|" + ledger head + "|" + last change hash)``); ``verify
  --head HEX`` accepts it for as long as the chain only grows past it;
* ``manifest.sig`` is the operator's Ed25519 signature (library ``cryptography``) over the
  exact bytes of manifest.json, and ``operator.pub`` the public half beside it. The key
  is made on first use in ``$SOCIALRATING_KEY_DIR`` (default
  ``~/.config/socialrating/keys``), readable by its owner only.

Ed25519 signatures are deterministic, so the same run signed with the same key gives
byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

from ..atomic import LOCK_NAME, STAGE_NAME, write_bytes_atomic

HEAD_SCHEME = "socialrating-head-v1"
ZERO = "0" * 64
SIG_NAME = "manifest.sig"
PUB_NAME = "operator.pub"
MANIFEST = "manifest.json"
#: files that the manifest cannot or need not list: itself, its signature and key, the lock
#: and staging area, the ledger store (checked by content), and outputs that `report`,
#: `audit` and `compare` re-derive from the sealed files at any time
NOT_LISTED = {MANIFEST, SIG_NAME, PUB_NAME, LOCK_NAME, "ledger.duckdb", "ledger.duckdb.wal"}
#: folders likewise: the store's entry segments (store/ledger_store.py), checked by content
#: through the chain whose head the manifest records
NOT_LISTED_DIRS = {"ledger.entries"}
UNSEALED = ("report.html", "audit.json", "timings.json", "audit/", "compare-")


class OperatorKeyError(ValueError):
    """The operator key cannot be read or made."""


def combined_head(ledger_head: str | None, change_head: str | None) -> str:
    return hashlib.sha256(f"{HEAD_SCHEME}|{ledger_head or ZERO}|{change_head or ZERO}".encode()).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_unsealed(rel: str) -> bool:
    return rel.startswith(UNSEALED)


def listed_files(run_dir: Path) -> list[str]:
    """Every file of the run folder the manifest must list, as sorted relative paths."""
    out = []
    for p in run_dir.rglob("*"):
        rel = p.relative_to(run_dir).as_posix()
        top = rel.split("/")[0]
        if top == STAGE_NAME or top in NOT_LISTED_DIRS or p.is_dir() or rel in NOT_LISTED or is_unsealed(rel):
            continue
        if p.name.startswith(".") and p.name.endswith(".tmp"):  # another writer's temporary file
            continue
        out.append(rel)
    return sorted(out)


def file_hashes(run_dir: Path, staged: dict[str, Path] | None = None) -> dict[str, str]:
    """sha256 of each listed file, taking staged (about to replace) versions where given."""
    staged = {k: v for k, v in (staged or {}).items() if k not in NOT_LISTED}
    names = sorted(set(listed_files(run_dir)) | set(staged))
    return {rel: sha256_file(staged.get(rel, run_dir / rel)) for rel in names}


# ---------------------------------------------------------------- keys


def key_dir() -> Path:
    env = os.environ.get("SOCIALRATING_KEY_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "socialrating" / "keys"


def operator_key():
    """The operator's Ed25519 private key, made on first use (written whole, then linked
    into place only if absent: two commands starting at once end up with the same key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    d = key_dir()
    path = d / "operator.key"
    if not path.exists():
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        tmp = d / f".operator.key.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # appears whole or not at all; fails if another process won
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            tmp.unlink(missing_ok=True)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, OSError) as exc:
        raise OperatorKeyError(f"{path}: cannot read the operator key ({exc}); expected an unencrypted "
                        "Ed25519 PEM key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise OperatorKeyError(f"{path}: the operator key is not an Ed25519 key")
    return key


def public_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public(pem: bytes):
    """An Ed25519 public key from PEM text; ValueError naming what is wrong otherwise."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        pub = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise ValueError("not a PEM public key") from None
    if not isinstance(pub, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return pub


def fingerprint(pem: bytes) -> str:
    """First 16 hex of sha256 of the raw 32-byte public key (PEM line endings do not matter)."""
    from cryptography.hazmat.primitives import serialization

    try:
        raw = load_public(pem).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    except ValueError:
        raw = pem.strip()
    return hashlib.sha256(raw).hexdigest()[:16]


def local_public_pem() -> bytes | None:
    """This machine's operator public key, if a key exists (never makes one)."""
    path = key_dir() / "operator.key"
    if not path.exists():
        return None
    return public_pem(operator_key())


# ---------------------------------------------------------------- writing


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n").encode()


def seal(manifest: dict[str, Any], run_dir: Path, staged: dict[str, Path] | None = None) -> dict[str, bytes]:
    """Add ``files`` and ``head`` to `manifest`; return the bytes of manifest.json,
    manifest.sig and operator.pub (written by the caller: directly or staged)."""
    m = dict(manifest)
    m["files"] = file_hashes(run_dir, staged)
    ls = m.get("ledger_store") or {}
    ch = m.get("changes") or {}
    m["head"] = combined_head(ls.get("head"), ch.get("head")) if ls.get("head") else None
    data = manifest_bytes(m)
    key = operator_key()
    return {MANIFEST: data, SIG_NAME: key.sign(data).hex().encode() + b"\n", PUB_NAME: public_pem(key)}


def write_sealed(manifest: dict[str, Any], run_dir: Path) -> None:
    """Seal and write the manifest in place (the run is being built: nobody reads it yet)."""
    parts = seal(manifest, run_dir)
    for name in (PUB_NAME, MANIFEST, SIG_NAME):
        write_bytes_atomic(run_dir / name, parts[name])


# ---------------------------------------------------------------- checking


def check_signature(run_dir: Path, trusted_pem: bytes | None) -> tuple[list[str], dict[str, Any]]:
    """Problems with manifest.sig (empty: valid), and facts about the key."""
    from cryptography.exceptions import InvalidSignature

    sig_p, pub_p = run_dir / SIG_NAME, run_dir / PUB_NAME
    if not sig_p.exists() or not pub_p.exists():
        missing = [p.name for p in (sig_p, pub_p) if not p.exists()]
        return [f"manifest.json is not signed ({', '.join(missing)} missing)"], {}
    pem = pub_p.read_bytes()
    info = {"key": fingerprint(pem)}
    try:
        pub = load_public(pem)
        pub.verify(bytes.fromhex(sig_p.read_text().strip()), (run_dir / MANIFEST).read_bytes())
    except InvalidSignature:
        return ["manifest.json does not match its signature (manifest.sig): the manifest was edited"], info
    except ValueError as exc:
        return [f"manifest.sig or operator.pub is malformed ({exc})"], info
    if trusted_pem is not None and fingerprint(trusted_pem) != info["key"]:
        return [f"manifest.json is signed by key {info['key']}, not by the trusted operator key "
                f"{fingerprint(trusted_pem)}: folder, chain and manifest may have been rebuilt"], info
    info["trusted"] = trusted_pem is not None
    return [], info


def check_files(run_dir: Path, listed: dict[str, str]) -> list[str]:
    """One problem per file that differs from, is missing from, or is absent in the manifest."""
    problems = []
    present = set(listed_files(run_dir))
    for rel, want in sorted(listed.items()):
        p = run_dir / rel
        if not p.is_file():
            problems.append(f"{rel}: listed in the manifest but missing")
        elif sha256_file(p) != want:
            problems.append(f"{rel}: its sha256 is not the manifest's (the file was changed)")
    for rel in sorted(present - set(listed)):
        problems.append(f"{rel}: not listed in the manifest (a file was added)")
    return problems


def heads_in_chain(block_digests: Iterable[str], change_hashes: Iterable[str]) -> Iterable[str]:
    """Every combined head the chain passed through (a block tip with any change tip)."""
    changes = [ZERO, *change_hashes]
    for b in block_digests:
        for c in changes:
            yield combined_head(b, c)


def staged_is_sealed(stage: Path, files: list[str]) -> bool:
    """Staged files a killed command left: swap them in only if they carry a manifest
    signed by the operator's key (this machine's, else the folder's) that lists each of them."""
    from cryptography.exceptions import InvalidSignature

    def pick(name: str) -> Path:  # an interrupted swap may have moved it already
        return stage / name if (stage / name).exists() else stage.parent / name

    try:
        data = pick(MANIFEST).read_bytes()
        sig = bytes.fromhex(pick(SIG_NAME).read_text().strip())
        pem = local_public_pem() or pick(PUB_NAME).read_bytes()
        load_public(pem).verify(sig, data)
        listed = json.loads(data)["files"]
    except (OSError, ValueError, KeyError, InvalidSignature):
        return False
    return all(rel in NOT_LISTED or listed.get(rel) == sha256_file(stage / rel)
               for rel in files if (stage / rel).exists())
