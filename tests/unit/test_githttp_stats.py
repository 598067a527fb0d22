"""The git test server's request log stays bounded over a soak's millions of requests."""

from tests.support.githttp import ServerStats


def test_request_log_keeps_the_latest_requests_only() -> None:
    stats = ServerStats(keep=3)
    for n in range(20):
        stats.record("POST", f"/repo.git/git-receive-pack?{n}", 200 if n % 2 else 403)
    assert 3 <= len(stats.requests) <= 6
    assert len(stats.times) == len(stats.requests)
    assert stats.requests[-1] == ("POST", "/repo.git/git-receive-pack?19", 200)
    assert [path for _, path, _ in stats.requests[-3:]] == [
        f"/repo.git/git-receive-pack?{n}" for n in (17, 18, 19)]
    assert stats.count(403) == sum(1 for *_, code in stats.requests if code == 403)
