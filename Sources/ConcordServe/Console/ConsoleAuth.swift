import ConcordCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A logged-in console user: who (for the journal) and the token every form must carry back (CSRF).
public struct ConsoleSession: Sendable {
    public var id: String
    public var operatorName: String
    public var csrf: String
    public var expires: Date
    /// Signed in with `Authorization: Bearer` (a script): no cookie, so no cross-site request can carry it.
    public var bearer: Bool
}

/// Sessions (in memory: a restart logs everyone out), the token check and the CSRF check.
final class ConsoleAuth: @unchecked Sendable {
    // @unchecked: `sessions` is used under `lock`.
    static let cookieName = "concord_session"
    static let lifetime: TimeInterval = 12 * 3600
    private let token: [UInt8]
    private let lock = NSLock()
    private var sessions: [String: ConsoleSession] = [:]

    init(token: String) { self.token = Array(token.utf8) }

    /// The token, compared in time independent of where it differs.
    func tokenMatches(_ candidate: String) -> Bool { Self.constantTimeEqual(Array(candidate.utf8), token) }

    /// Equal bytes, compared in time that depends only on the lengths (never on where they first differ).
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) { diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0) }
        return diff == 0
    }

    func login(operatorName: String) -> ConsoleSession {
        let s = ConsoleSession(id: Self.random(), operatorName: operatorName, csrf: Self.random(), expires: Date().addingTimeInterval(Self.lifetime),
                               bearer: false)
        lock.withLock {
            let now = Date()
            sessions = sessions.filter { $0.value.expires > now }
            sessions[s.id] = s
        }
        return s
    }

    func logout(_ id: String) { lock.withLock { _ = sessions.removeValue(forKey: id) } }

    /// The request's session: its cookie's, or a bearer token's (named by `X-Concord-Operator`, else "api").
    func session(for request: Request) -> ConsoleSession? {
        if let auth = request.headers[.authorization], auth.lowercased().hasPrefix("bearer ") {
            guard tokenMatches(String(auth.dropFirst(7)).trimmingCharacters(in: .whitespaces)) else { return nil }
            let who = request.headers[HTTPField.Name("X-Concord-Operator")!].flatMap { $0.isEmpty ? nil : $0 } ?? "api"
            return ConsoleSession(id: "", operatorName: who, csrf: "", expires: .distantFuture, bearer: true)
        }
        guard let id = Self.cookie(Self.cookieName, in: request) else { return nil }
        return lock.withLock {
            guard let s = sessions[id], s.expires > Date() else { return nil }
            return s
        }
    }

    /// Why a state-changing request may not proceed (nil: it may). A cookie session must send its CSRF token
    /// back and must not come from another site (Origin, when the browser sends it, is this server;
    /// Sec-Fetch-Site is not cross-site). A bearer session carries no ambient credential, so it needs neither.
    func csrfRefusal(_ request: Request, form: FormData, session: ConsoleSession) -> String? {
        if session.bearer { return nil }
        if request.headers[HTTPField.Name("Sec-Fetch-Site")!] == "cross-site" { return "a cross-site request" }
        if let origin = request.headers[HTTPField.Name("Origin")!] {
            let host = request.head.authority ?? request.headers[HTTPField.Name("Host")!] ?? ""
            guard origin == "http://" + host || origin == "https://" + host else { return "Origin \(origin) is not this server (\(host))" }
        }
        guard let sentText = form["csrf"], !sentText.isEmpty else { return "no CSRF token" }
        guard !session.csrf.isEmpty, Self.constantTimeEqual(Array(sentText.utf8), Array(session.csrf.utf8)) else { return "a wrong CSRF token" }
        return nil
    }

    static func cookie(_ name: String, in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for part in header.split(separator: ";") {
                let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if kv.count == 2 && kv[0] == name { return String(kv[1]) }
            }
        }
        return nil
    }

    static func sessionCookie(_ s: ConsoleSession) -> String {
        "\(cookieName)=\(s.id); Path=/console; HttpOnly; SameSite=Strict; Max-Age=\(Int(lifetime))"
    }

    static let clearCookie = "\(cookieName)=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0"

    /// 32 random bytes as hex.
    static func random() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }
}
