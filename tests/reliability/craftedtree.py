"""Hand-crafted git trees: entries that only a tree object written byte by byte can
hold, because git's own commands refuse them (a name with ``/`` or ``..``), committed
to a bare repository; and which paths a commit changed, as git lists them."""

from __future__ import annotations

from dataclasses import dataclass

from tests.support import gitrepo


@dataclass(frozen=True)
class Raw:
    """A tree entry only a hand-crafted tree object can hold (``git mktree`` refuses a
    name with ``/``): ``name`` in directory ``parent`` of the tree."""

    parent: str
    name: bytes
    data: bytes
    mode: bytes = b"100644"


def tree_entries(repo: gitrepo.BareRepo, tree: str) -> list[tuple[bytes, bytes, bytes]]:
    """``(mode, name, raw sha)`` of a tree object, parsed from its bytes."""
    data = repo.git("cat-file", "tree", tree)
    out, i = [], 0
    while i < len(data):
        space = data.index(b" ", i)
        nul = data.index(b"\0", space)
        out.append((data[i:space], data[space + 1:nul], data[nul + 1:nul + 21]))
        i = nul + 21
    return out


def _write_tree(repo: gitrepo.BareRepo, entries: list[tuple[bytes, bytes, bytes]]) -> str:
    def order(e: tuple[bytes, bytes, bytes]) -> bytes:  # git sorts a tree as name + "/"
        return e[1] + (b"/" if e[0] == b"40000" else b"")
    raw = b"".join(mode + b" " + name + b"\0" + sha for mode, name, sha in
                   sorted(entries, key=order))
    # --literally: git's own checks would refuse these names, which is the point.
    return repo.git("hash-object", "-t", "tree", "-w", "--literally", "--stdin",
                    input=raw).decode().strip()


def _blob(repo: gitrepo.BareRepo, data: bytes) -> bytes:
    return bytes.fromhex(repo.git("hash-object", "-w", "--stdin", input=data).decode().strip())


def commit_raw(repo: gitrepo.BareRepo, raws: tuple[Raw, ...], message: str) -> str:
    """A commit adding hand-crafted tree entries (names ``git mktree`` refuses)."""
    head = repo.head()
    root = tree_entries(repo, f"{head}^{{tree}}")
    for raw in raws:
        if raw.mode == b"40000":  # a directory holding the data as rollout.yaml
            sha = bytes.fromhex(_write_tree(repo, [(b"100644", b"rollout.yaml",
                                                    _blob(repo, raw.data))]))
        else:
            sha = _blob(repo, raw.data)
        entry = (raw.mode, raw.name, sha)
        if not raw.parent:
            root.append(entry)
            continue
        assert "/" not in raw.parent
        i, (mode, name, sub) = next((i, e) for i, e in enumerate(root)
                                    if e[1] == raw.parent.encode())
        inner = [*tree_entries(repo, sub.hex()), entry]
        root[i] = (mode, name, bytes.fromhex(_write_tree(repo, inner)))
    tree = _write_tree(repo, root)
    sha = repo.git("commit-tree", tree, "-p", head, "-m", message).decode().strip()
    repo.git("update-ref", f"refs/heads/{repo.branch}", sha, head)
    return sha


def changed_paths(repo: gitrepo.BareRepo, old: str, new: str) -> list[str]:
    out = repo.git("diff-tree", "-r", "-z", "--name-only", "--no-renames", old, new)
    return [p for p in out.decode(errors="surrogateescape").split("\0") if p]
