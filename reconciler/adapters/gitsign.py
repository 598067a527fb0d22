"""The one place the adapters create a commit object: signed when a signer is set.

Where it fits: every commit the reconciler writes goes through ``write``: releases,
reverts, rollbacks and pull-request branch commits (``gitobjects.create_commit``,
through ``git.Mirror.commit``) and bake-verdict notes commits (``gitnotes.write``).
Nothing here moves a ref: the caller pushes as before, and a push retried after a
fetch builds, and so signs, a new commit.

pygit2 has no signing callback, so a signed commit is built the way git builds one:
the commit's text (``create_commit_string``), signed detached by ``signing.Signer``,
stored with the signature in its ``gpgsig`` header (``create_commit_with_signature``),
which is what ``git verify-commit`` and the forges read, for SSH and OpenPGP alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import pygit2

from reconciler.adapters.signing import Signer

SIGNATURE_HEADER = "gpgsig"


def write(repo: pygit2.Repository, *, tree: pygit2.Oid, parents: Sequence[pygit2.Oid],
          message: str, author: pygit2.Signature, committer: pygit2.Signature,
          signer: Signer | None) -> pygit2.Oid:
    """Create the commit (unreferenced); signed by ``signer`` unless it is None.

    A failed signature is the signer's ``GitError``; pygit2's errors are the caller's
    to translate."""
    if signer is None:
        return repo.create_commit(None, author, committer, message, tree, list(parents))
    # A str at run time; pygit2's stubs say Oid.
    content = str(repo.create_commit_string(author, committer, message, tree, list(parents)))
    signature = signer.sign(content.encode("utf-8"))
    # git stores the armor without its final newline (no empty continuation line).
    return repo.create_commit_with_signature(content, signature.rstrip("\n"),
                                             SIGNATURE_HEADER)

