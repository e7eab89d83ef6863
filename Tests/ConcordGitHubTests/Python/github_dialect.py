"""Holds github_server.py to GitHub's REST dialect with the real clients:
githubkit (every response parsed into the pydantic models generated from
GitHub's OpenAPI description, required fields enforced; its rate-limit
retries), PyGithub (its objects, PaginatedList over Link, its retry of
secondary limits) and plain httpx for what neither shows (ETag/304 costing
no rate limit, paging headers, the JWT checks).

  github_dialect.py BASE_URL TOKEN APP_ID APP_PRIVATE_KEY.pem

Prints one line per check and exits 1 on the first failure.
"""
import json
import sys
import time

import httpx
from githubkit import GitHub, TokenAuthStrategy, AppAuthStrategy
from githubkit.exception import RequestFailed
from githubkit_schemas.v2022_11_28 import models
from pydantic import TypeAdapter

BASE, TOKEN, APP_ID, KEY = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
REPO_OWNER, REPO_NAME = "dialect-org", "dialect-repo"
FULL = f"{REPO_OWNER}/{REPO_NAME}"
raw = httpx.Client(base_url=BASE, headers={"Authorization": f"Bearer {TOKEN}", "X-GitHub-Api-Version": "2022-11-28"})


def V(client):
    """The REST API of version 2022-11-28, the one Concord sends."""
    return client.rest("2022-11-28")


def ok(name):
    print("ok  ", name, flush=True)


def admin(path, body):
    r = raw.post(path, json=body)
    assert r.status_code == 200, r.text


def strict(model, data):
    """Validates `data` against githubkit's model with every field the schema requires."""
    TypeAdapter(model).validate_python(data)


admin("/_admin/reset", {})
gh = GitHub(TokenAuthStrategy(TOKEN), base_url=BASE, http_cache=False, auto_retry=False)

# -- who: /user with its scopes, /rate_limit
me = V(gh).users.get_authenticated()
assert me.parsed_data.login and me.headers.get("x-oauth-scopes") is not None
strict(models.PrivateUser, me.json())
ok("GET /user parses as PrivateUser; X-OAuth-Scopes present")
rl = V(gh).rate_limit.get()
strict(models.RateLimitOverview, rl.json())
assert rl.parsed_data.resources.core.limit >= rl.parsed_data.resources.core.remaining
ok("GET /rate_limit parses as RateLimitOverview")

# -- repository and issue
repo = V(gh).repos.get(REPO_OWNER, REPO_NAME)
strict(models.FullRepository, repo.json())
issue = V(gh).issues.get(REPO_OWNER, REPO_NAME, 7)
strict(models.Issue, issue.json())
ok("GET repo / issue parse as FullRepository / Issue")

# -- comments: create, page, get, update, delete
created = V(gh).issues.create_comment(REPO_OWNER, REPO_NAME, 7, body="hello <!-- concord:draft=d-1 -->")
assert created.status_code == 201 and created.headers.get("location")
strict(models.IssueComment, created.json())
for i in range(6):
    V(gh).issues.create_comment(REPO_OWNER, REPO_NAME, 7, body=f"comment {i}")
bodies = [c.body for c in gh.rest.paginate(V(gh).issues.list_comments, owner=REPO_OWNER, repo=REPO_NAME, issue_number=7, per_page=2)]
assert len(bodies) == 7 and bodies[0].startswith("hello"), bodies
page = V(gh).issues.list_comments(REPO_OWNER, REPO_NAME, 7, per_page=2)
strict(list[models.IssueComment], page.json())
assert 'rel="next"' in page.headers["link"] and 'rel="last"' in page.headers["link"]
ok("comments: 201 + Location, 7 comments over 4 pages followed by githubkit's paginate (Link)")
cid = created.parsed_data.id
got = V(gh).issues.get_comment(REPO_OWNER, REPO_NAME, cid)
strict(models.IssueComment, got.json())
upd = V(gh).issues.update_comment(REPO_OWNER, REPO_NAME, cid, body="edited")
assert upd.parsed_data.body == "edited"
d = V(gh).issues.delete_comment(REPO_OWNER, REPO_NAME, cid)
assert d.status_code == 204
try:
    V(gh).issues.get_comment(REPO_OWNER, REPO_NAME, cid)
    raise AssertionError("a deleted comment answered")
except RequestFailed as e:
    assert e.response.status_code == 404
ok("comment get / update / delete, then 404")

# -- ETag: a 304 costs no rate limit
r1 = raw.get(f"/repos/{FULL}/issues/7/comments", params={"per_page": 100})
etag, left = r1.headers["etag"], int(r1.headers["x-ratelimit-remaining"])
r2 = raw.get(f"/repos/{FULL}/issues/7/comments", params={"per_page": 100}, headers={"If-None-Match": etag})
assert r2.status_code == 304 and int(r2.headers["x-ratelimit-remaining"]) == left, (r2.status_code, r2.headers)
r3 = raw.get(f"/repos/{FULL}/issues/7/comments", params={"per_page": 100})
assert int(r3.headers["x-ratelimit-remaining"]) == left - 1
ok("If-None-Match: 304 with the same x-ratelimit-remaining; a 200 costs one")

# -- pull requests: create, find by head, 422 for a second one
pr = V(gh).pulls.create(REPO_OWNER, REPO_NAME, title="t", head="concord/d-9", base="main", body="b <!-- concord:draft=d-9 -->")
strict(models.PullRequest, pr.json())
found = V(gh).pulls.list(REPO_OWNER, REPO_NAME, head=f"{REPO_OWNER}:concord/d-9", state="all")
strict(list[models.PullRequestSimple], found.json())
assert [p.number for p in found.parsed_data] == [pr.parsed_data.number]
try:
    V(gh).pulls.create(REPO_OWNER, REPO_NAME, title="t", head="concord/d-9", base="main", body="again")
    raise AssertionError("a second pull request for one head was created")
except RequestFailed as e:
    assert e.response.status_code == 422
    strict(models.ValidationError, e.response.json())
    assert "already exists" in e.response.json()["errors"][0]["message"]
strict(models.PullRequest, V(gh).pulls.get(REPO_OWNER, REPO_NAME, pr.parsed_data.number).json())
ok("pulls: create, list ?head=owner:branch&state=all, a second one 422 'already exists' (ValidationError)")

# -- errors as GitHub words them
admin("/_admin/repos", {"full_name": "dialect-org/gone", "missing": True})
admin("/_admin/repos", {"full_name": FULL, "locked": [8], "gone": [9]})
for (o, r, n), status in {("dialect-org", "gone", 1): 404, (REPO_OWNER, REPO_NAME, 8): 422, (REPO_OWNER, REPO_NAME, 9): 410}.items():
    try:
        V(gh).issues.create_comment(o, r, n, body="x")
        raise AssertionError(f"{o}/{r}#{n} accepted a comment")
    except RequestFailed as e:
        assert e.response.status_code == status, (e.response.status_code, status)
        strict(models.BasicError if status != 422 else models.ValidationError, e.response.json())
bad = GitHub(TokenAuthStrategy("ghp_wrong"), base_url=BASE, http_cache=False, auto_retry=False)
try:
    V(bad).users.get_authenticated()
    raise AssertionError("a wrong token was accepted")
except RequestFailed as e:
    assert e.response.status_code == 401 and e.response.json()["message"] == "Bad credentials"
ok("404 repository, 422 locked issue, 410 deleted issue, 401 Bad credentials (BasicError / ValidationError)")

# -- rate limits handled by githubkit's own retry (auto_retry): secondary with Retry-After, 429
from githubkit.retry import RetryRateLimit  # noqa: E402

retrying = GitHub(TokenAuthStrategy(TOKEN), base_url=BASE, http_cache=False, auto_retry=RetryRateLimit(max_retry=2))
admin("/_admin/faults", [{"method": "POST", "path": "/issues/11/comments", "kind": "secondary-retry-after", "seconds": 1},
                         {"method": "POST", "path": "/issues/11/comments", "kind": "429", "seconds": 1}])
t0 = time.time()
c = V(retrying).issues.create_comment(REPO_OWNER, REPO_NAME, 11, body="after limits")
assert c.status_code == 201 and time.time() - t0 >= 1.5, time.time() - t0
ok(f"githubkit saw a secondary limit (403 + Retry-After) and a 429 as rate limits, waited, then created ({time.time() - t0:.1f} s)")

# -- a GitHub App: JWT -> installation token -> content as the bot
app = GitHub(AppAuthStrategy(APP_ID, open(KEY).read()), base_url=BASE, http_cache=False, auto_retry=False)
a = V(app).apps.get_authenticated()
strict(models.Integration, a.json())
inst = app.with_auth(app.auth.as_installation(42))
c = V(inst).issues.create_comment(REPO_OWNER, REPO_NAME, 12, body="from the app")
assert c.parsed_data.user.type == "Bot" and c.parsed_data.user.login.endswith("[bot]")
tok = raw.post("/app/installations/42/access_tokens", headers={"Authorization": "Bearer not.a.jwt"})
assert tok.status_code == 401
ok("App: /app parses as Integration; installation token minted from githubkit's JWT; comment by a [bot]")

# -- PyGithub, the second client
from github import Github, Auth, GithubException  # noqa: E402

pg = Github(auth=Auth.Token(TOKEN), base_url=BASE, per_page=3)
r = pg.get_repo(FULL)
iss = r.get_issue(20)
for i in range(5):
    iss.create_comment(f"pygithub {i}")
assert [c.body for c in iss.get_comments()] == [f"pygithub {i}" for i in range(5)]
p = r.create_pull(title="pg", body="pg body", base="main", head="concord/pg-1")
assert [x.number for x in r.get_pulls(state="all", head=f"{REPO_OWNER}:concord/pg-1")] == [p.number]
try:
    r.create_pull(title="pg", body="again", base="main", head="concord/pg-1")
    raise AssertionError("PyGithub created a second pull request")
except GithubException as e:
    assert e.status == 422
assert pg.get_user().login and pg.get_rate_limit().resources.core.remaining > 0
ok("PyGithub: repo, issue, 5 comments over 2 pages, pull create / find by head / 422, user, rate limit")
print("dialect: all checks passed")
