"""The commit signer, from the ``Commit signing`` settings; a key that cannot sign
stops start-up with one line naming ``--signing-key`` (``SigningKeyError``, exit 2).

Where it fits: ``reconciler run`` and the commands that commit (``release``,
``revert``, ``migrate``) call ``connect`` before anything else touches git; the signer it returns
(or None: commits unsigned) goes to ``git.Mirror``, which signs every commit it
creates. ``connect`` proves the key by signing a probe (``adapters/signing``); the
key and its passphrase are read by ssh-keygen or gpg only, never logged.
"""

from __future__ import annotations

from typing import Any

from reconciler.adapters import signing
from reconciler.errors import SigningKeyError
from reconciler.interfaces import settings
from reconciler.interfaces.settings import SigningSettings


def connect(config: SigningSettings) -> signing.Signer | None:
    """The signer of ``config``, having signed a probe; None without a key."""
    passphrase = config.signing_passphrase_file
    if config.signing_key is None:
        if passphrase is not None:
            raise SigningKeyError("--signing-passphrase-file needs --signing-key "
                                  "(RECONCILER_SIGNING_KEY)")
        return None
    if passphrase is not None and not passphrase.is_file():
        raise SigningKeyError(f"--signing-passphrase-file {passphrase}: no such file "
                              f"(the passphrase of --signing-key {config.signing_key})")
    try:
        return signing.load(config.signing_key, fmt=config.signing_format,
                            passphrase_file=passphrase)
    except SigningKeyError as exc:
        hint = ("; a protected key needs --signing-passphrase-file"
                if passphrase is None and "passphrase" in str(exc).lower() else "")
        raise SigningKeyError(f"--signing-key {config.signing_key} (--signing-format "
                              f"{config.signing_format}): {exc}{hint}") from None


def from_flags(opts: dict[str, Any]) -> signing.Signer | None:
    """``connect`` for a command's flags (consumed from ``opts``), the environment and
    the defaults."""
    config = settings.load(SigningSettings, opts)
    for name in SigningSettings.model_fields:
        opts.pop(name, None)
    return connect(config)
