import ConcordReports
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Server-rendered HTML: every value escaped on its way in, no script, no external asset.
enum HTML {
    /// Escapes text for element content and quoted attribute values (the reports' escaping).
    static func escape(_ s: String) -> String { Escape.xml(s) }

    /// A path segment, percent-encoded (ids and file names in links).
    static func segment(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ""
    }

    /// A query value, percent-encoded.
    static func query(_ s: String) -> String { segment(s) }

    static let style = """
        body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
        header{background:#1d2430;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center}
        header a{color:#cfe1ff;text-decoration:none}header b{margin-right:24px}header form{margin-left:auto}
        main{padding:18px 24px;max-width:1200px}h1{font-size:20px;margin:4px 0 14px}h2{font-size:16px;margin:22px 0 8px}
        table{border-collapse:collapse;background:#fff;width:100%;margin:6px 0 14px}
        th,td{border:1px solid #dde1e7;padding:5px 8px;text-align:left;vertical-align:top}th{background:#eef1f5}
        td.num{text-align:right;font-variant-numeric:tabular-nums}
        pre{margin:0;white-space:pre-wrap;word-break:break-all;font-size:12px;min-width:200px}code{font-size:12px}
        .error{color:#a4161a}.warning{color:#9a6700}.ok{color:#1a7f37}
        .notice{padding:10px 14px;border-radius:4px;margin:10px 0;background:#fff8c5;border:1px solid #e3c75a}
        .refused{background:#ffebe9;border-color:#e5534b}.done{background:#dafbe1;border-color:#4ac26b}
        button{padding:6px 14px;font-size:14px;cursor:pointer}input[type=text],input[type=password]{padding:5px;font-size:14px;width:260px}
        label{margin-right:14px}.muted{color:#6b7280}.bar{height:10px;background:#dde1e7;border-radius:5px;overflow:hidden;width:420px}
        .bar span{display:block;height:100%;background:#2f81f7}
        """

    /// A whole console page.
    static func page(_ title: String, session: ConsoleSession?, refreshSeconds: Int? = nil, _ body: String) -> String {
        var head = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>\(escape(title)) · Concord</title>"
        if let refreshSeconds { head += "<meta http-equiv=\"refresh\" content=\"\(refreshSeconds)\">" }
        head += "<style>\(style)</style></head><body><header><b>Concord console</b>"
        if let session {
            head += "<a href=\"/console/\">Overview</a><a href=\"/console/trends\">Trends</a><a href=\"/console/audits\">Audits</a><a href=\"/console/plans\">Plans</a><a href=\"/console/journal\">Journal</a><a href=\"/console/publications\">Publications</a>"
            head += "<form method=\"post\" action=\"/console/logout\">\(csrfField(session))<span class=\"muted\">\(escape(session.operatorName))</span> "
            head += "<button type=\"submit\">Log out</button></form>"
        }
        return head + "</header><main>" + body + "</main></body></html>"
    }

    static func csrfField(_ session: ConsoleSession) -> String {
        "<input type=\"hidden\" name=\"csrf\" value=\"\(escape(session.csrf))\">"
    }

    /// Pretty JSON in a <pre>, escaped.
    static func json(_ text: String) -> String { "<pre>\(escape(text))</pre>" }

    static let securityHeaders: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .cacheControl: "no-store",
        HTTPField.Name("Content-Security-Policy")!: "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ]

    static func response(_ html: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: securityHeaders, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func redirect(_ location: String, cookie: String? = nil) -> Response {
        var headers: HTTPFields = [.location: location, .cacheControl: "no-store"]
        if let cookie { headers[.setCookie] = cookie }
        return Response(status: .seeOther, headers: headers)
    }
}

/// An `application/x-www-form-urlencoded` body or query: names may repeat (checkbox lists).
struct FormData: Sendable {
    var fields: [(String, String)] = []

    init(_ text: String) {
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String { (s.replacingOccurrences(of: "+", with: " ")).removingPercentEncoding ?? "" }
            fields.append((decode(parts[0]), parts.count > 1 ? decode(parts[1]) : ""))
        }
    }

    subscript(name: String) -> String? { fields.first { $0.0 == name }?.1 }
    func all(_ name: String) -> [String] { fields.filter { $0.0 == name }.map(\.1) }

    /// Reads a form body (at most 1 MiB).
    static func read(_ request: Request) async throws -> FormData {
        var request = request
        let buffer = try await request.collectBody(upTo: 1 << 20)
        return FormData(String(buffer: buffer))
    }
}
