"""The admin console in headless Chromium (Debian's, driven by Playwright): log in, open an audit, create a
plan, approve and apply it, see the journal; then a forged cross-site POST and an XSS payload.

  console_tour.py BASE_URL TOKEN SCREENSHOT_DIR XSS_TEXT

Prints JSON observations (the test asserts on them); screenshots of each step go to SCREENSHOT_DIR.
"""
import http.server
import json
import os
import sys
import threading

from playwright.sync_api import sync_playwright

base, token, shots, xss = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
run_id = sys.argv[5] if len(sys.argv) > 5 else None
redis_url = sys.argv[6] if len(sys.argv) > 6 else None
os.makedirs(shots, exist_ok=True)
out = {}


def shot(page, name):
    page.screenshot(path=os.path.join(shots, name + ".png"), full_page=True)


def attacker_server(target):
    """A page on another origin whose form posts to the console (the victim is logged in)."""
    html = f"""<!doctype html><html><body><form id="f" method="post" action="{target}">
    <input name="operator" value="mallory"><input name="reviewed" value="yes"><input name="force-stale" value="yes">
    </form><script>document.getElementById('f').submit()</script></body></html>""".encode()

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), headless=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    # XSS: any script that runs would set this.
    page.add_init_script("window.__xss = 0")

    # 1. Log in (a wrong token first).
    page.goto(base + "/console/")
    out["login_url"] = page.url
    page.fill("input[name=operator]", "Ada Lovelace")
    page.fill("input[name=token]", "not-the-token")
    page.click("button[type=submit]")
    out["wrong_token_text"] = page.locator(".refused").inner_text()
    page.fill("input[name=operator]", "Ada Lovelace")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    out["after_login_url"] = page.url
    out["cookie_flags"] = [(c["name"], c["httpOnly"], c["sameSite"]) for c in page.context.cookies()]
    out["audit_rows"] = page.locator("#audits tr").count() - 1
    out["audit_ids"] = page.locator("#audits tr td:first-child").all_inner_texts()
    shot(page, "1-audits")

    # 2. Open the audit: findings by rule; the XSS payload is text, nothing ran.
    page.click("#audits tr:nth-child(2) td:first-child a")
    out["audit_url"] = page.url
    out["rule_rows"] = page.locator("#rules tr").count() - 1
    out["finding_rows"] = page.locator("#findings tr").count() - 1
    out["xss_as_text_on_audit"] = xss in page.locator("#findings").inner_text()
    out["xss_elements_on_audit"] = page.locator("#findings script, #findings img").count()
    out["xss_ran_audit"] = page.evaluate("window.__xss")
    shot(page, "2-audit")

    # 3. The HTML report of the audit opens (its own script allowed by hash); the payload is text there too.
    page.goto(page.url + "/report")
    out["report_title"] = page.title()
    out["xss_as_text_on_report"] = xss in page.content().replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    out["xss_ran_report"] = page.evaluate("window.__xss")
    page.go_back()

    # 4. Create a plan from every finding.
    page.click("#plan-form button[type=submit]")
    out["plan_url"] = page.url
    out["plan_id"] = page.url.rstrip("/").split("/")[-1]
    out["dry_run_stores"] = page.locator("table.dry-run").evaluate_all("ts => ts.map(t => [t.dataset.store, t.rows.length - 1])")
    out["manual_rows"] = page.locator("#manual tr").count() - 1 if page.locator("#manual").count() else 0
    out["xss_as_text_on_plan"] = xss in page.locator("main").inner_text()
    out["xss_elements_on_plan"] = page.locator("main script, main img").count()
    out["xss_ran_plan"] = page.evaluate("window.__xss")
    shot(page, "3-plan-dry-run")

    # 5. Approve without ticking "reviewed": the browser's required field stops it; tick it and apply.
    page.fill("#apply-form input[name=operator]", "Ada Lovelace")
    page.check("#apply-form input[name=reviewed]")
    page.click("#apply-form button[type=submit]")
    page.wait_for_selector("#outcome", timeout=60000)
    out["outcome_text"] = page.locator("#outcome").inner_text()
    out["refused_rows"] = page.locator("#refused tr").count() - 1 if page.locator("#refused").count() else 0
    out["operation_rows"] = page.locator("#operations tr").count() - 1
    shot(page, "4-applied")

    # 6. The journal of the plan: who applied it, from where, how it ended.
    page.click("text=the journal of this plan")
    out["journal_rows"] = page.locator("#journal tr").evaluate_all("rs => rs.slice(1).map(r => Array.from(r.cells).map(c => c.innerText))")
    out["journal_operations"] = page.locator("#journal-operations tr").count() - 1 if page.locator("#journal-operations").count() else 0
    page.select_option("select[name=command]", "apply")
    page.click("#journal-filter button[type=submit]")
    out["journal_filtered_commands"] = page.locator("#journal tr td:nth-child(2)").all_inner_texts()
    shot(page, "5-journal")

    # 6b. The publications to GitHub, reached from the header: each one's state, its URL or GitHub's reason.
    page.click("header >> text=Publications")
    out["publications_url"] = page.url
    out["publication_counts"] = page.locator("#publication-counts").inner_text()
    out["publication_rows"] = page.locator("#publications tr").evaluate_all("rs => rs.slice(1).map(r => [r.dataset.state, r.cells[0].innerText, r.cells[5].innerText])")
    out["publication_links"] = page.locator("#publications tr[data-state=published] a").evaluate_all("as => as.map(a => a.href)")
    out["xss_as_text_on_publications"] = xss in page.locator("#publications").inner_text()
    out["xss_elements_on_publications"] = page.locator("#publications script, #publications img").count()
    out["xss_ran_publications"] = page.evaluate("window.__xss")
    page.click("#publication-counts >> text=failed: 1")
    out["publications_failed_only"] = page.locator("#publications tr").evaluate_all("rs => rs.slice(1).map(r => r.dataset.state)")
    shot(page, "6-publications")

    # 6c. The front page, by keyboard only: Tab to the run box (labelled), type a run id, Enter.
    if run_id:
        page.goto(base + "/")
        out["overview_url"] = page.url
        out["overview_stores_ok"] = page.locator("#stores tr[data-ok=true]").count()
        out["overview_queue"] = page.locator("#queue tr[data-key=queue] td").inner_text()
        out["overview_last_audit"] = page.locator("#last-audit").inner_text()
        shot(page, "7-overview")
        tabs = 0
        while tabs < 25 and not page.evaluate("document.activeElement && document.activeElement.name === 'id'"):
            page.keyboard.press("Tab")
            tabs += 1
        out["tabs_to_run_box"] = tabs
        out["run_box_label"] = page.evaluate("document.activeElement.closest('label') ? document.activeElement.closest('label').innerText : ''")
        page.keyboard.type(run_id)
        with page.expect_navigation(url="**/console/runs/*"):
            page.keyboard.press("Enter")
        out["run_url"] = page.url
        out["run_event_rows"] = page.locator("#events tr").count() - 1
        out["run_marked_rows"] = page.locator("#events tr.marked").count()
        out["run_finding_rows"] = page.locator("#run-findings tr").count() - 1
        # A producer writes to the run while its page is open: the page shows it, as text.
        if redis_url:
            import json, subprocess, time
            from urllib.parse import urlsplit
            u = urlsplit(redis_url)
            time.sleep(0.5)
            ev = {"id": "ev_live_1", "timestamp": int(time.time() * 1000), "type": "message", "parentId": run_id,
                  "payload": {"text": "<b>live</b>"}, "metadata": {"workflowId": run_id, "userId": "u_1"}}
            # redis-cli (Debian's redis-tools, as make installs it): the test's venv has no Redis client of its own.
            subprocess.run(["redis-cli", "-h", u.hostname, "-p", str(u.port), "-n", (u.path or "/0").lstrip("/") or "0",
                            "XADD", f"workflow:{run_id}:events", "*", "event", json.dumps(ev)], check=True, capture_output=True)
            page.wait_for_selector("#live li", timeout=10000)
            out["live_lines"] = page.locator("#live li").all_inner_texts()
            out["live_markup_elements"] = page.locator("#live b").count()
        shot(page, "8-run")
        page.click("header >> text=Trends")
        out["trends_charts"] = page.locator("svg.chart").count()
        out["trends_charts_titled"] = page.locator("svg.chart > title").count()
        out["trends_rule_charts"] = page.locator("svg.chart[id^=rule-]").count()
        out["trends_queue_chart"] = page.locator("svg#queue-depth").count()
        out["trends_bar_links"] = page.locator("svg.chart a").count()
        shot(page, "9-trends")

    # 7. A forged cross-site POST: a page elsewhere submits "apply" with the victim's cookie and no CSRF token.
    srv = attacker_server(base + "/console/plans/" + out["plan_id"] + "/apply")
    forged = {}
    page.on("response", lambda r: forged.setdefault("status", r.status) if r.url.endswith("/apply") and r.request.method == "POST" else None)
    page.goto(f"http://127.0.0.1:{srv.server_address[1]}/")
    page.wait_for_load_state("networkidle")
    out["forged_status"] = forged.get("status")
    out["forged_body"] = page.locator("body").inner_text()[:300]
    srv.shutdown()
    browser.close()

json.dump(out, sys.stdout)
