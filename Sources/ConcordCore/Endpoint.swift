import Foundation

/// A parsed `scheme://[user[:password]@]host[:port][/path][?query]` URL.
///
/// Used for Redis, FalkorDB and Bolt URLs. PostgreSQL URLs go to libpq as they
/// are, since libpq parses its own forms.
public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
    public var scheme: String
    public var user: String?
    public var password: String?
    public var host: String
    /// The host as written (`localhost` stays `localhost`, while `host` connects to 127.0.0.1): the name a TLS certificate must carry.
    public var serverName: String
    public var port: Int
    /// The path without its leading slash ("" when absent).
    public var path: String
    public var query: [String: String]

    public init(
        scheme: String, user: String? = nil, password: String? = nil, host: String, port: Int,
        path: String = "", query: [String: String] = [:]
    ) {
        self.scheme = scheme
        self.user = user
        self.password = password
        self.host = host
        serverName = host
        self.port = port
        self.path = path
        self.query = query
    }

    /// Parses `text`; `defaultPorts` gives the port per scheme when none is written.
    public init(parsing text: String, defaultPorts: [String: Int]) throws {
        guard let schemeEnd = text.range(of: "://") else {
            throw ConcordError(.usage, "'\(Redaction.mask(text))' is not a URL: expected scheme://host:port")
        }
        scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard let defaultPort = defaultPorts[scheme] else {
            let known = defaultPorts.keys.sorted().map { "\($0)://" }.joined(separator: ", ")
            throw ConcordError(.usage, "unsupported URL scheme '\(scheme)://' in \(Redaction.mask(text)); expected \(known)")
        }
        var rest = Substring(text[schemeEnd.upperBound...])
        var queryItems: [String: String] = [:]
        if let q = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: q)...].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                let key = String(kv[0]).removingPercentEncoding ?? String(kv[0])
                let value = kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
                queryItems[key] = value
            }
            rest = rest[..<q]
        }
        var pathPart = ""
        if let slash = rest.firstIndex(of: "/") {
            pathPart = String(rest[rest.index(after: slash)...])
            rest = rest[..<slash]
        }
        var u: String?
        var p: String?
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            if let colon = userinfo.firstIndex(of: ":") {
                u = String(userinfo[..<colon]).removingPercentEncoding
                p = String(userinfo[userinfo.index(after: colon)...]).removingPercentEncoding
            } else {
                u = String(userinfo).removingPercentEncoding
            }
            rest = rest[rest.index(after: at)...]
        }
        var h = String(rest)
        var portNumber = defaultPort
        if h.hasPrefix("[") , let close = h.firstIndex(of: "]") {  // [::1]:port
            let inner = String(h[h.index(after: h.startIndex)..<close])
            let after = h[h.index(after: close)...]
            if after.hasPrefix(":") {
                guard let n = Int(after.dropFirst()) else {
                    throw ConcordError(.usage, "bad port in \(Redaction.mask(text))")
                }
                portNumber = n
            }
            h = inner
        } else if let colon = h.lastIndex(of: ":") {
            guard let n = Int(h[h.index(after: colon)...]), (1...65535).contains(n) else {
                throw ConcordError(.usage, "bad port in \(Redaction.mask(text))")
            }
            portNumber = n
            h = String(h[..<colon])
        }
        if h.isEmpty { h = "127.0.0.1" }
        serverName = h
        if h == "localhost" { h = "127.0.0.1" }
        user = (u?.isEmpty ?? true) ? nil : u
        password = (p?.isEmpty ?? true) ? nil : p
        host = h
        port = portNumber
        path = pathPart
        query = queryItems
    }

    /// The URL with its password masked, safe for messages and logs.
    public var description: String {
        var s = "\(scheme)://"
        if let user { s += user }
        if password != nil { s += ":***" }
        if user != nil || password != nil { s += "@" }
        s += host.contains(":") ? "[\(host)]" : host
        s += ":\(port)"
        if !path.isEmpty { s += "/\(path)" }
        return s
    }
}
