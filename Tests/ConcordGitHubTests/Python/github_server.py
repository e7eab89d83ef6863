"""A local server that speaks GitHub's REST dialect (API version 2022-11-28):
the GitHub stand-in for the tests, the demo and the benchmarks (no machine
here reaches GitHub). Held to the dialect by github_dialect.py, which drives
it with githubkit (every response parsed into the models generated from
GitHub's OpenAPI description) and PyGithub.

  github_server.py [--port N] [--token T...] [--app-id ID --app-key PUBLIC.pem]
                   [--rate-limit N] [--scopes "repo, read:org"]

Listens on 127.0.0.1 (the port printed as the first line of stdout) until killed.

What it serves, as GitHub does:
  GET  /user, /app, /rate_limit, /installation/repositories
  POST /app/installations/{id}/access_tokens       JWT (RS256, iss = app id, exp - iat <= 600 s) -> ghs_ token, 1 hour
  GET|POST /repos/{o}/{r}/issues/{n}/comments       paged (per_page, page, Link), ?since=, ETag / If-None-Match -> 304
  GET|PATCH|DELETE /repos/{o}/{r}/issues/comments/{id}
  GET|POST /repos/{o}/{r}/pulls                     ?head=owner:branch&state=all; a second open PR for a head: 422
  GET|PATCH /repos/{o}/{r}/pulls/{n}
  rate limits                                       x-ratelimit-* on every answer; a 304 costs nothing; at 0: 403
  auth                                              "Bearer"/"token" PATs (--token), installation tokens (expire),
                                                    JWTs only on /app*; 401 "Bad credentials" otherwise
Every repository and issue exists unless the admin API says otherwise.

The admin API (not GitHub's; for tests):
  POST /_admin/faults     [{"method": "POST", "path": REGEX, "kind": KIND, "count": N, "seconds": S}]
                          KIND: 500 | 502 | 500-after-write | timeout-after-write | slow-after-write | secondary | secondary-retry-after
                                | 429 | 401 | expire-tokens | primary
  POST /_admin/repos      {"full_name": "o/r", "missing": true} (404), {"locked": [n]} (422 on comment),
                          {"gone": [n]} (410), {"branches": [...]} (the heads a PR may name; default any)
  POST /_admin/age        {"seconds": S}: everything held made S seconds older
  GET  /_admin/state      every comment and pull request;  GET /_admin/requests  the request log
  POST /_admin/reset      forget everything
"""
import argparse
import base64
import hashlib
import itertools
import json
import re
import secrets
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs, urlencode

LOCK = threading.RLock()
API_VERSION = "2022-11-28"


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class State:
    def __init__(self):
        self.comments = {}          # id -> comment dict (internal)
        self.pulls = {}             # (repo, number) -> pull dict (internal)
        self.repos = {}             # full_name -> {"missing", "locked", "gone", "branches", "id", "next_number"}
        self.ids = itertools.count(1_000_001)
        self.faults = []
        self.requests = []
        self.tokens = {}            # installation token -> expiry (epoch)
        self.buckets = {}           # identity -> [limit, remaining, reset]

    def repo(self, full):
        r = self.repos.get(full)
        if r is None:
            r = self.repos[full] = {"missing": False, "locked": set(), "gone": set(), "branches": None,
                                    "id": 500_000 + len(self.repos), "next_number": 1000}
        return r


STATE = State()
ARGS = None


def user(login, uid=None, kind="User"):
    uid = uid or (abs(hash(login)) % 9_000_000 + 1_000)
    base = "https://api.github.com/users/" + login
    return {
        "login": login, "id": uid, "node_id": "MDQ6VXNlcj" + str(uid), "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "gravatar_id": "", "url": base, "html_url": "https://github.com/" + login, "followers_url": base + "/followers",
        "following_url": base + "/following{/other_user}", "gists_url": base + "/gists{/gist_id}",
        "starred_url": base + "/starred{/owner}{/repo}", "subscriptions_url": base + "/subscriptions",
        "organizations_url": base + "/orgs", "repos_url": base + "/repos", "events_url": base + "/events{/privacy}",
        "received_events_url": base + "/received_events", "type": kind, "site_admin": False, "user_view_type": "public",
    }


def repository(full, host):
    owner, name = full.split("/", 1)
    r = STATE.repo(full)
    api = f"{host}/repos/{full}"
    t = iso(1_700_000_000)
    d = {
        "id": r["id"], "node_id": "R_kgDO" + str(r["id"]), "name": name, "full_name": full, "private": False,
        "owner": user(owner, kind="Organization"), "html_url": "https://github.com/" + full, "description": None,
        "fork": False, "url": api, "created_at": t, "updated_at": t, "pushed_at": t,
        "git_url": f"git://github.com/{full}.git", "ssh_url": f"git@github.com:{full}.git",
        "clone_url": f"https://github.com/{full}.git", "svn_url": "https://github.com/" + full, "homepage": None,
        "size": 1, "stargazers_count": 0, "watchers_count": 0, "language": None, "has_issues": True,
        "has_projects": True, "has_downloads": True, "has_wiki": True, "has_pages": False, "has_discussions": False,
        "forks_count": 0, "mirror_url": None, "archived": False, "disabled": False, "open_issues_count": 0,
        "license": None, "allow_forking": True, "is_template": False, "web_commit_signoff_required": False,
        "topics": [], "visibility": "public", "forks": 0, "open_issues": 0, "watchers": 0, "default_branch": "main",
    }
    for k, suffix in [("archive_url", "/{archive_format}{/ref}"), ("assignees_url", "/assignees{/user}"),
                      ("blobs_url", "/git/blobs{/sha}"), ("branches_url", "/branches{/branch}"),
                      ("collaborators_url", "/collaborators{/collaborator}"), ("comments_url", "/comments{/number}"),
                      ("commits_url", "/commits{/sha}"), ("compare_url", "/compare/{base}...{head}"),
                      ("contents_url", "/contents/{+path}"), ("contributors_url", "/contributors"),
                      ("deployments_url", "/deployments"), ("downloads_url", "/downloads"), ("events_url", "/events"),
                      ("forks_url", "/forks"), ("git_commits_url", "/git/commits{/sha}"),
                      ("git_refs_url", "/git/refs{/sha}"), ("git_tags_url", "/git/tags{/sha}"),
                      ("hooks_url", "/hooks"), ("issue_comment_url", "/issues/comments{/number}"),
                      ("issue_events_url", "/issues/events{/number}"), ("issues_url", "/issues{/number}"),
                      ("keys_url", "/keys{/key_id}"), ("labels_url", "/labels{/name}"), ("languages_url", "/languages"),
                      ("merges_url", "/merges"), ("milestones_url", "/milestones{/number}"),
                      ("notifications_url", "/notifications{?since,all,participating}"), ("pulls_url", "/pulls{/number}"),
                      ("releases_url", "/releases{/id}"), ("stargazers_url", "/stargazers"),
                      ("statuses_url", "/statuses/{sha}"), ("subscribers_url", "/subscribers"),
                      ("subscription_url", "/subscription"), ("tags_url", "/tags"), ("teams_url", "/teams"),
                      ("trees_url", "/git/trees{/sha}")]:
        d[k] = api + suffix
    return d


def comment_json(c, host):
    return {
        "id": c["id"], "node_id": "IC_kwDO" + str(c["id"]), "url": f"{host}/repos/{c['repo']}/issues/comments/{c['id']}",
        "html_url": f"https://github.com/{c['repo']}/issues/{c['issue']}#issuecomment-{c['id']}",
        "issue_url": f"{host}/repos/{c['repo']}/issues/{c['issue']}", "body": c["body"], "user": user(c["login"], kind=c["kind"]),
        "created_at": iso(c["created"]), "updated_at": iso(c["updated"]), "author_association": "NONE",
        "performed_via_github_app": None,
        "reactions": {"url": f"{host}/repos/{c['repo']}/issues/comments/{c['id']}/reactions", "total_count": 0, "+1": 0,
                      "-1": 0, "laugh": 0, "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0},
    }


def pull_json(p, host, full=True):
    repo = p["repo"]
    api = f"{host}/repos/{repo}"
    n = p["number"]
    owner = repo.split("/")[0]
    sha = hashlib.sha1(f"{repo}:{p['head']}".encode()).hexdigest()

    def branch(ref, label_owner):
        return {"label": f"{label_owner}:{ref}", "ref": ref, "sha": sha, "user": user(label_owner, kind="Organization"),
                "repo": repository(repo, host)}

    d = {
        "url": f"{api}/pulls/{n}", "id": p["id"], "node_id": "PR_kwDO" + str(p["id"]),
        "html_url": f"https://github.com/{repo}/pull/{n}", "diff_url": f"https://github.com/{repo}/pull/{n}.diff",
        "patch_url": f"https://github.com/{repo}/pull/{n}.patch", "issue_url": f"{api}/issues/{n}",
        "commits_url": f"{api}/pulls/{n}/commits", "review_comments_url": f"{api}/pulls/{n}/comments",
        "review_comment_url": f"{api}/pulls/comments{{/number}}", "comments_url": f"{api}/issues/{n}/comments",
        "statuses_url": f"{api}/statuses/{sha}", "number": n, "state": p["state"], "locked": False, "title": p["title"],
        "user": user(p["login"], kind=p["kind"]), "body": p["body"], "labels": [], "milestone": None,
        "active_lock_reason": None, "created_at": iso(p["created"]), "updated_at": iso(p["updated"]),
        "closed_at": None, "merged_at": None, "merge_commit_sha": None, "assignee": None, "assignees": [],
        "requested_reviewers": [], "requested_teams": [], "head": branch(p["head"], owner), "base": branch(p["base"], owner),
        "_links": {k: {"href": v} for k, v in {
            "self": f"{api}/pulls/{n}", "html": f"https://github.com/{repo}/pull/{n}", "issue": f"{api}/issues/{n}",
            "comments": f"{api}/issues/{n}/comments", "review_comments": f"{api}/pulls/{n}/comments",
            "review_comment": f"{api}/pulls/comments{{/number}}", "commits": f"{api}/pulls/{n}/commits",
            "statuses": f"{api}/statuses/{sha}"}.items()},
        "author_association": "NONE", "auto_merge": None, "draft": False,
    }
    if full:
        d.update({"merged": False, "mergeable": True, "rebaseable": True, "mergeable_state": "clean", "merged_by": None,
                  "comments": 0, "review_comments": 0, "maintainer_can_modify": False, "commits": 1, "additions": 1,
                  "deletions": 0, "changed_files": 1})
    return d


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def verify_jwt(token):
    """The App's JWT: RS256 over the app's public key, iss = app id, iat/exp within GitHub's 10 minutes."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    try:
        h, p, s = token.split(".")
        header, claims = json.loads(b64url_decode(h)), json.loads(b64url_decode(p))
    except Exception:
        return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
    if header.get("alg") != "RS256":
        return "A JSON web token could not be decoded"
    key = serialization.load_pem_public_key(open(ARGS.app_key, "rb").read())
    try:
        key.verify(b64url_decode(s), f"{h}.{p}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return "A JSON web token could not be decoded"
    now = time.time()
    if str(claims.get("iss")) != str(ARGS.app_id):
        return "'Issuer' claim ('iss') must be an Integer"
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int) or not isinstance(iat, int):
        return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
    if exp - iat > 600 or exp > now + 600 + 60:
        return "'Expiration time' claim ('exp') is too far in the future"
    if exp < now:
        return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
    if iat > now + 60:
        return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the second waits for the client's
    # delayed ACK (40 ms a request on Linux), which would make the local GitHub, not Concord, the bottleneck.
    disable_nagle_algorithm = True
    server_version = "GitHub.com"
    sys_version = ""

    def log_message(self, *a):
        pass

    # -- plumbing

    def host(self):
        return "http://" + (self.headers.get("Host") or f"127.0.0.1:{self.server.server_port}")

    def body(self):
        raw = self.raw
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def send(self, status, payload=None, headers=None, count=True, identity=None):
        data = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-GitHub-Api-Version-Selected", API_VERSION)
        self.send_header("X-GitHub-Request-Id", secrets.token_hex(8).upper())
        self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
        if identity is not None:
            limit, remaining, reset = self.bucket(identity, charge=count)
            self.send_header("X-RateLimit-Limit", str(limit))
            self.send_header("X-RateLimit-Remaining", str(remaining))
            self.send_header("X-RateLimit-Reset", str(reset))
            self.send_header("X-RateLimit-Used", str(limit - remaining))
            self.send_header("X-RateLimit-Resource", "core")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        with LOCK:
            STATE.requests.append({"method": self.command, "path": self.path, "status": status,
                                   "auth": (identity or "")[:12], "time": time.time()})

    def error(self, status, message, identity=None, headers=None, errors=None, count=True):
        doc = "https://docs.github.com/rest"
        payload = {"message": message, "documentation_url": doc, "status": str(status)}
        if errors:
            payload["errors"] = errors
        self.send(status, payload, headers=headers, identity=identity, count=count)

    def bucket(self, identity, charge):
        with LOCK:
            now = int(time.time())
            b = STATE.buckets.get(identity)
            if b is None or b[2] <= now:
                b = STATE.buckets[identity] = [ARGS.rate_limit, ARGS.rate_limit, now + 3600]
            if charge and b[1] > 0:
                b[1] -= 1
            return tuple(b)

    def identity(self):
        """(identity, kind) or an error already sent (returns None)."""
        auth = self.headers.get("Authorization") or ""
        m = re.match(r"(?i)(bearer|token)\s+(\S+)", auth)
        if not m:
            return ("anonymous:" + self.client_address[0], "anonymous")
        tok = m.group(2)
        if tok.count(".") == 2 and tok.startswith("eyJ"):
            if not ARGS.app_id:
                self.error(401, "A JSON web token could not be decoded")
                return None
            problem = verify_jwt(tok)
            if problem:
                self.error(401, problem)
                return None
            return ("app:" + str(ARGS.app_id), "app")
        with LOCK:
            if tok in ARGS.token:
                return ("token:" + tok, "token")
            exp = STATE.tokens.get(tok)
        if exp is not None and exp > time.time():
            return ("installation:" + tok, "installation")
        self.error(401, "Bad credentials")
        return None

    def fault(self, phase):
        """The first matching fault for this request in `phase` ('before' or 'after' the write), consumed."""
        with LOCK:
            for f in STATE.faults:
                if f["count"] <= 0:
                    continue
                if f.get("method", self.command) != self.command or not re.search(f.get("path", ""), urlsplit(self.path).path):
                    continue
                after = f["kind"] in ("500-after-write", "timeout-after-write", "slow-after-write")
                if after != (phase == "after"):
                    continue
                f["count"] -= 1
                return f
        return None

    def apply_before_fault(self, f, identity):
        k = f["kind"]
        if k in ("500", "502"):
            self.error(int(k), "Server Error" if k == "500" else "Bad Gateway", identity=identity)
        elif k == "secondary":
            self.error(403, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                       identity=identity)
        elif k == "secondary-retry-after":
            self.error(403, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                       identity=identity, headers={"Retry-After": str(f.get("seconds", 1))})
        elif k == "429":
            self.error(429, "Too Many Requests", identity=identity, headers={"Retry-After": str(f.get("seconds", 1))})
        elif k == "401":
            self.error(401, "Bad credentials")
        elif k == "primary":
            with LOCK:
                b = STATE.buckets.setdefault(identity, [ARGS.rate_limit, 0, int(time.time()) + int(f.get("seconds", 2))])
                b[1], b[2] = 0, int(time.time()) + int(f.get("seconds", 2))
            self.error(403, f"API rate limit exceeded for {identity}.", identity=identity, count=False)
        elif k == "expire-tokens":
            # Every installation token expires now; this request's with them.
            with LOCK:
                for t in STATE.tokens:
                    STATE.tokens[t] = 0
            if identity.startswith("installation:"):
                self.error(401, "Bad credentials")
                return True
            return False
        else:
            return False
        return True

    def after_write(self, identity):
        """True when a fault answered instead of the written resource."""
        f = self.fault("after")
        if not f:
            return False
        if f["kind"] == "slow-after-write":
            # Written, answered late: widens the window between GitHub's write and the client's commit.
            time.sleep(float(f.get("seconds", 0.05)))
            return False
        if f["kind"] == "500-after-write":
            self.error(502, "Server Error", identity=identity)
        else:
            time.sleep(float(f.get("seconds", 30)))
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
        return True

    def etag_send(self, payload, identity, headers=None):
        data = json.dumps(payload, separators=(",", ":")).encode()
        tag = 'W/"' + hashlib.sha256(data).hexdigest()[:40] + '"'
        h = dict(headers or {})
        h["ETag"] = tag
        h["Cache-Control"] = "private, max-age=60, s-maxage=60"
        h["Vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
        inm = self.headers.get("If-None-Match")
        if inm and tag in [t.strip() for t in inm.split(",")]:
            self.send_response(304)
            for k, v in h.items():
                self.send_header(k, v)
            limit, remaining, reset = self.bucket(identity, charge=False)
            self.send_header("X-RateLimit-Limit", str(limit))
            self.send_header("X-RateLimit-Remaining", str(remaining))
            self.send_header("X-RateLimit-Reset", str(reset))
            self.send_header("X-RateLimit-Used", str(limit - remaining))
            self.send_header("X-RateLimit-Resource", "core")
            self.send_header("Content-Length", "0")
            self.end_headers()
            with LOCK:
                STATE.requests.append({"method": self.command, "path": self.path, "status": 304,
                                       "auth": identity[:12], "time": time.time()})
            return
        self.send(200, payload, headers=h, identity=identity)

    def paged(self, items, identity, query):
        per_page = max(1, min(100, int((query.get("per_page") or ["30"])[0])))
        page = max(1, int((query.get("page") or ["1"])[0]))
        last = max(1, (len(items) + per_page - 1) // per_page)
        chunk = items[(page - 1) * per_page: page * per_page]
        links = []
        path = urlsplit(self.path).path

        def url(p):
            q = {k: v[0] for k, v in query.items()}
            q["page"], q["per_page"] = str(p), str(per_page)
            return f"<{self.host()}{path}?{urlencode(q)}>"
        if page < last:
            links += [url(page + 1) + '; rel="next"', url(last) + '; rel="last"']
        if page > 1:
            links += [url(page - 1) + '; rel="prev"', url(1) + '; rel="first"']
        self.etag_send(chunk, identity, headers={"Link": ", ".join(links)} if links else None)

    # -- dispatch

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        # The whole request body is read first, whatever the route: bytes left unread would be taken
        # for the next request on this keep-alive connection.
        n = int(self.headers.get("Content-Length") or 0)
        self.raw = self.rfile.read(n) if n else b""
        parts = urlsplit(self.path)
        path, query = parts.path.rstrip("/") or "/", parse_qs(parts.query)
        try:
            if path.startswith("/_admin"):
                return self.admin(path)
            # GHES serves the same API under /api/v3.
            if path.startswith("/api/v3"):
                path = path[len("/api/v3"):] or "/"
            who = self.identity()
            if who is None:
                return
            identity, kind = who
            f = self.fault("before")
            if f and self.apply_before_fault(f, identity):
                return
            with LOCK:
                b = STATE.buckets.get(identity)
                exhausted = b is not None and b[1] <= 0 and b[2] > time.time()
            if exhausted:
                return self.error(403, f"API rate limit exceeded for {identity}.", identity=identity, count=False)
            self.route(path, query, identity, kind)
        except BrokenPipeError:
            pass

    def route(self, path, query, identity, kind):
        m = self.command, path
        if kind == "app" and not path.startswith("/app"):
            return self.error(401, "A JSON web token could not be decoded", identity=identity)
        if m == ("GET", "/user"):
            if kind != "token":
                return self.error(403, "Resource not accessible by integration", identity=identity)
            u = user(ARGS.login)
            u.update({"name": "Concord Test", "company": None, "blog": "", "location": None, "email": None,
                      "hireable": None, "bio": None, "twitter_username": None, "public_repos": 1, "public_gists": 0,
                      "followers": 0, "following": 0, "created_at": iso(1_600_000_000), "updated_at": iso(1_600_000_000),
                      "private_gists": 0, "total_private_repos": 0, "owned_private_repos": 0, "disk_usage": 0,
                      "collaborators": 0, "two_factor_authentication": True,
                      "plan": {"name": "pro", "space": 976562499, "private_repos": 9999, "collaborators": 0}})
            return self.send(200, u, identity=identity, headers={"X-OAuth-Scopes": ARGS.scopes, "X-Accepted-OAuth-Scopes": ""})
        if m == ("GET", "/rate_limit"):
            limit, remaining, reset = self.bucket(identity, charge=False)
            core = {"limit": limit, "remaining": remaining, "reset": reset, "used": limit - remaining}
            other = {"limit": 30, "remaining": 30, "reset": reset, "used": 0}
            return self.send(200, {"resources": {"core": core, "search": other, "graphql": core, "integration_manifest": other},
                                   "rate": core}, identity=identity, count=False)
        if m == ("GET", "/app"):
            if kind != "app":
                return self.error(401, "A JSON web token could not be decoded", identity=identity)
            return self.send(200, self.app_json(), identity=identity)
        mm = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
        if mm and self.command == "POST":
            if kind != "app":
                return self.error(401, "A JSON web token could not be decoded", identity=identity)
            tok = "ghs_" + secrets.token_hex(18)
            exp = time.time() + ARGS.installation_token_seconds
            with LOCK:
                STATE.tokens[tok] = exp
            return self.send(201, {"token": tok, "expires_at": iso(exp), "permissions": {"issues": "write", "pull_requests": "write", "metadata": "read"},
                                   "repository_selection": "all"}, identity=identity)
        if m == ("GET", "/installation/repositories"):
            return self.send(200, {"total_count": 0, "repositories": [], "repository_selection": "all"}, identity=identity)
        mm = re.fullmatch(r"/repos/([^/]+/[^/]+)(/.*)?", path)
        if not mm:
            return self.error(404, "Not Found", identity=identity)
        full, rest = mm.group(1), mm.group(2) or ""
        with LOCK:
            repo = STATE.repo(full)
            missing = repo["missing"]
        if missing:
            return self.error(404, "Not Found", identity=identity)
        if kind == "anonymous" and self.command != "GET":
            return self.error(401, "Requires authentication", identity=identity)
        if rest == "" and self.command == "GET":
            d = repository(full, self.host())
            d.update({"network_count": 0, "subscribers_count": 0,
                      "permissions": {"admin": False, "maintain": False, "push": True, "triage": True, "pull": True}})
            return self.etag_send(d, identity)
        mm = re.fullmatch(r"/issues/(\d+)", rest)
        if mm and self.command == "GET":
            n = int(mm.group(1))
            if n in repo["gone"]:
                return self.error(410, "This issue was deleted", identity=identity)
            return self.etag_send(self.issue_json(full, n), identity)
        mm = re.fullmatch(r"/issues/(\d+)/comments", rest)
        if mm:
            return self.issue_comments(full, repo, int(mm.group(1)), query, identity, kind)
        mm = re.fullmatch(r"/issues/comments/(\d+)", rest)
        if mm:
            return self.one_comment(full, int(mm.group(1)), identity)
        if rest == "/pulls":
            return self.pulls(full, repo, query, identity, kind)
        mm = re.fullmatch(r"/pulls/(\d+)", rest)
        if mm:
            return self.one_pull(full, int(mm.group(1)), identity)
        return self.error(404, "Not Found", identity=identity)

    def issue_json(self, full, n):
        api = f"{self.host()}/repos/{full}"
        with LOCK:
            count = sum(1 for c in STATE.comments.values() if c["repo"] == full and c["issue"] == n)
            locked = n in STATE.repo(full)["locked"]
        return {"id": 7_000_000 + n, "node_id": "I_kwDO" + str(n), "url": f"{api}/issues/{n}",
                "repository_url": api, "labels_url": f"{api}/issues/{n}/labels{{/name}}",
                "comments_url": f"{api}/issues/{n}/comments", "events_url": f"{api}/issues/{n}/events",
                "html_url": f"https://github.com/{full}/issues/{n}", "number": n, "state": "open",
                "state_reason": None, "title": f"Issue {n}", "body": None, "user": user("octocat"), "labels": [],
                "assignee": None, "assignees": [], "milestone": None, "locked": locked,
                "active_lock_reason": "resolved" if locked else None, "comments": count, "closed_at": None,
                "created_at": iso(1_700_000_000), "updated_at": iso(1_700_000_000), "closed_by": None,
                "author_association": "NONE", "reactions": {"url": f"{api}/issues/{n}/reactions", "total_count": 0,
                "+1": 0, "-1": 0, "laugh": 0, "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0},
                "timeline_url": f"{api}/issues/{n}/timeline", "performed_via_github_app": None}

    def app_json(self):
        return {"id": int(ARGS.app_id), "slug": "concord-test", "node_id": "A_kwHO" + str(ARGS.app_id),
                "client_id": "Iv1.concordtest", "owner": user("concord-org", kind="Organization"), "name": "Concord Test",
                "description": "", "external_url": "https://example.invalid", "html_url": "https://github.com/apps/concord-test",
                "created_at": iso(1_600_000_000), "updated_at": iso(1_600_000_000),
                "permissions": {"issues": "write", "pull_requests": "write", "metadata": "read"},
                "events": [], "installations_count": 1}

    def author(self, kind):
        return ("concord-test[bot]", "Bot") if kind == "installation" else (ARGS.login, "User")

    def issue_comments(self, full, repo, number, query, identity, kind):
        if number in repo["gone"]:
            return self.error(410, "This issue was deleted", identity=identity)
        if self.command == "GET":
            with LOCK:
                since = (query.get("since") or [None])[0]
                floor = datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp() if since else 0
                items = [comment_json(c, self.host()) for c in sorted(STATE.comments.values(), key=lambda c: c["id"])
                         if c["repo"] == full and c["issue"] == number and c["updated"] >= floor - 1]
            return self.paged(items, identity, query)
        if self.command != "POST":
            return self.error(404, "Not Found", identity=identity)
        if number in repo["locked"]:
            return self.error(422, "Validation Failed", identity=identity,
                              errors=[{"resource": "IssueComment", "code": "unprocessable", "field": "data",
                                       "message": "Unable to create comment because issue is locked."}])
        body = self.body()
        if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"]:
            return self.error(422, "Invalid request.\n\n\"body\" wasn't supplied.", identity=identity)
        login, ukind = self.author(kind)
        now = time.time()
        with LOCK:
            c = {"id": next(STATE.ids), "repo": full, "issue": number, "body": body["body"], "login": login, "kind": ukind,
                 "created": now, "updated": now}
            STATE.comments[c["id"]] = c
        if self.after_write(identity):
            return
        j = comment_json(c, self.host())
        return self.send(201, j, identity=identity, headers={"Location": j["url"]})

    def one_comment(self, full, cid, identity):
        with LOCK:
            c = STATE.comments.get(cid)
        if c is None or c["repo"] != full:
            return self.error(404, "Not Found", identity=identity)
        if self.command == "GET":
            return self.etag_send(comment_json(c, self.host()), identity)
        if self.command == "PATCH":
            body = self.body()
            if not isinstance(body, dict) or not isinstance(body.get("body"), str):
                return self.error(422, "Invalid request.\n\n\"body\" wasn't supplied.", identity=identity)
            with LOCK:
                c["body"], c["updated"] = body["body"], time.time()
            return self.send(200, comment_json(c, self.host()), identity=identity)
        if self.command == "DELETE":
            with LOCK:
                STATE.comments.pop(cid, None)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            limit, remaining, reset = self.bucket(identity, charge=True)
            self.send_header("X-RateLimit-Remaining", str(remaining))
            self.end_headers()
            with LOCK:
                STATE.requests.append({"method": "DELETE", "path": self.path, "status": 204, "auth": identity[:12], "time": time.time()})
            return
        return self.error(404, "Not Found", identity=identity)

    def pulls(self, full, repo, query, identity, kind):
        owner = full.split("/")[0]
        if self.command == "GET":
            state = (query.get("state") or ["open"])[0]
            head = (query.get("head") or [None])[0]
            with LOCK:
                ps = [p for (r, _), p in sorted(STATE.pulls.items(), key=lambda kv: -kv[1]["number"]) if r == full]
            if state != "all":
                ps = [p for p in ps if p["state"] == state]
            if head:
                ho, _, hb = head.partition(":")
                ps = [p for p in ps if ho == owner and p["head"] == hb] if hb else [p for p in ps if ho == owner]
            return self.paged([pull_json(p, self.host(), full=False) for p in ps], identity, query)
        if self.command != "POST":
            return self.error(404, "Not Found", identity=identity)
        body = self.body()
        if not isinstance(body, dict) or not body.get("head") or not body.get("base") or not (body.get("title") or body.get("issue")):
            return self.error(422, "Validation Failed", identity=identity,
                              errors=[{"resource": "PullRequest", "field": "head", "code": "missing_field"}])
        head = body["head"].split(":")[-1]
        if repo["branches"] is not None and head not in repo["branches"]:
            return self.error(422, "Validation Failed", identity=identity,
                              errors=[{"resource": "PullRequest", "field": "head", "code": "invalid"}])
        login, ukind = self.author(kind)
        now = time.time()
        with LOCK:
            if any(r == full and p["head"] == head and p["state"] == "open" for (r, _), p in STATE.pulls.items()):
                exists = True
            else:
                exists = False
                repo["next_number"] += 1
                p = {"id": next(STATE.ids), "repo": full, "number": repo["next_number"], "head": head, "base": body["base"],
                     "title": body.get("title") or "", "body": body.get("body"), "state": "open", "login": login,
                     "kind": ukind, "created": now, "updated": now}
                STATE.pulls[(full, p["number"])] = p
        if exists:
            return self.error(422, "Validation Failed", identity=identity,
                              errors=[{"resource": "PullRequest", "code": "custom",
                                       "message": f"A pull request already exists for {full.split('/')[0]}:{head}."}])
        if self.after_write(identity):
            return
        j = pull_json(p, self.host())
        return self.send(201, j, identity=identity, headers={"Location": j["url"]})

    def one_pull(self, full, number, identity):
        with LOCK:
            p = STATE.pulls.get((full, number))
        if p is None:
            return self.error(404, "Not Found", identity=identity)
        if self.command == "GET":
            return self.etag_send(pull_json(p, self.host()), identity)
        if self.command == "PATCH":
            body = self.body() or {}
            with LOCK:
                for k in ("title", "body", "state"):
                    if k in body:
                        p[k] = body[k]
                p["updated"] = time.time()
            return self.send(200, pull_json(p, self.host()), identity=identity)
        return self.error(404, "Not Found", identity=identity)

    # -- admin

    def admin(self, path):
        global STATE
        body = self.body() if self.command == "POST" else None
        if path == "/_admin/faults" and self.command == "POST":
            with LOCK:
                for f in body if isinstance(body, list) else [body]:
                    f.setdefault("count", 1)
                    STATE.faults.append(f)
            return self.send(200, {"faults": len(STATE.faults)})
        if path == "/_admin/repos" and self.command == "POST":
            with LOCK:
                r = STATE.repo(body["full_name"])
                if "missing" in body:
                    r["missing"] = bool(body["missing"])
                r["locked"] |= set(body.get("locked", []))
                r["gone"] |= set(body.get("gone", []))
                if "branches" in body:
                    r["branches"] = set(body["branches"])
            return self.send(200, {"ok": True})
        if path == "/_admin/age" and self.command == "POST":
            # Everything GitHub holds, made `seconds` earlier (as if published long ago).
            with LOCK:
                for item in list(STATE.comments.values()) + list(STATE.pulls.values()):
                    item["created"] -= float(body.get("seconds", 3600))
                    item["updated"] -= float(body.get("seconds", 3600))
            return self.send(200, {"ok": True})
        if path == "/_admin/state":
            with LOCK:
                return self.send(200, {"comments": [dict(c) for c in STATE.comments.values()],
                                       "pulls": [dict(p) for p in STATE.pulls.values()]})
        if path == "/_admin/requests":
            with LOCK:
                return self.send(200, list(STATE.requests))
        if path == "/_admin/reset" and self.command == "POST":
            with LOCK:
                STATE = State()
            return self.send(200, {"ok": True})
        return self.send(404, {"message": "Not Found"})


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", action="append", default=[])
    ap.add_argument("--login", default="concord-bot")
    ap.add_argument("--scopes", default="repo")
    ap.add_argument("--app-id")
    ap.add_argument("--app-key", help="the App's public key (PEM), to verify its JWTs")
    ap.add_argument("--rate-limit", type=int, default=5000)
    ap.add_argument("--installation-token-seconds", type=float, default=3600)
    ARGS = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    server.daemon_threads = True
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
