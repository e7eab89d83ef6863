import Foundation

/// Hiding secrets in connection strings before they reach a message or a log.
public enum Redaction {
    /// Returns `url` with any password replaced by `***`.
    ///
    /// Handles URLs (`scheme://user:password@host/...`), libpq conninfo
    /// strings (`password=secret`) and `?password=` query parameters.
    public static func mask(_ url: String) -> String {
        var s = url
        if let schemeEnd = s.range(of: "://") {
            let rest = s[schemeEnd.upperBound...]
            let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
            let authority = rest[rest.startIndex..<authorityEnd]
            if let at = authority.lastIndex(of: "@") {
                let userinfo = authority[authority.startIndex..<at]
                if let colon = userinfo.firstIndex(of: ":") {
                    s.replaceSubrange(s.index(after: colon)..<at, with: "***")
                }
            }
        }
        // key=value forms: conninfo and URL query parameters.
        for key in ["password=", "pass=", "auth=", "sentinel_password="] {
            var searchStart = s.startIndex
            while let r = s.range(of: key, options: [.caseInsensitive], range: searchStart..<s.endIndex) {
                let before = r.lowerBound == s.startIndex ? " " : s[s.index(before: r.lowerBound)]
                guard before == " " || before == "?" || before == "&" else { searchStart = r.upperBound; continue }
                var end = r.upperBound
                if end < s.endIndex, s[end] == "'" {
                    end = s.index(after: end)
                    while end < s.endIndex, s[end] != "'" { end = s.index(after: end) }
                    if end < s.endIndex { end = s.index(after: end) }
                } else {
                    while end < s.endIndex, s[end] != " ", s[end] != "&" { end = s.index(after: end) }
                }
                s.replaceSubrange(r.upperBound..<end, with: "***")
                searchStart = s.index(r.upperBound, offsetBy: 3, limitedBy: s.endIndex) ?? s.endIndex
            }
        }
        return s
    }
}
