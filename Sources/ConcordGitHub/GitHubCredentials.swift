import ConcordCore
import ConcordCrypto
import ConcordJSON
import Foundation

/// Who Concord is on GitHub: a token (a PAT or any token GitHub accepts as
/// `Authorization: Bearer`), or a GitHub App — its id and private key sign a
/// JSON Web Token (RS256, at most 10 minutes) that is exchanged for an
/// installation token, cached and renewed before it expires or on a 401.
public enum GitHubCredentials: Sendable {
    case token(String)
    case app(id: String, key: RSASigner, installation: Int64)

    /// `CONCORD_GITHUB_TOKEN`, or an App from `CONCORD_GITHUB_APP_ID`, `…_APP_KEY` (a PEM file) and
    /// `…_APP_INSTALLATION`; the flags win over the environment.
    public static func resolve(token: String?, appId: String?, appKeyFile: String?, installation: Int64?,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> GitHubCredentials? {
        let appId = appId ?? environment["CONCORD_GITHUB_APP_ID"]
        if let appId, !appId.isEmpty {
            guard let file = appKeyFile ?? environment["CONCORD_GITHUB_APP_KEY"] else {
                throw ConcordError(.usage, "a GitHub App needs its private key: --github-app-key FILE (or CONCORD_GITHUB_APP_KEY)", store: "github")
            }
            guard let inst = installation ?? environment["CONCORD_GITHUB_APP_INSTALLATION"].flatMap({ Int64($0) }) else {
                throw ConcordError(.usage, "a GitHub App needs the installation to act as: --github-app-installation ID (or CONCORD_GITHUB_APP_INSTALLATION)",
                                   store: "github")
            }
            let pem: String
            do { pem = try String(contentsOfFile: file, encoding: .utf8) } catch {
                throw ConcordError(.usage, "cannot read the GitHub App key \(file): \(error.localizedDescription)", store: "github")
            }
            do { return .app(id: appId, key: try RSASigner(pem: pem), installation: inst) } catch {
                throw ConcordError(.usage, "the GitHub App key \(file): \(error)", store: "github")
            }
        }
        if let t = token ?? environment["CONCORD_GITHUB_TOKEN"], !t.isEmpty { return .token(t) }
        return nil
    }

    /// What `concord doctor` and the logs say about these credentials (never the secret).
    public var summary: String {
        switch self {
        case .token(let t): return "token \(t.prefix(4))…(\(t.count) characters)"
        case .app(let id, _, let inst): return "GitHub App \(id), installation \(inst)"
        }
    }

    /// The App's JSON Web Token: issued 60 s in the past (clock drift, as GitHub advises), valid 9 minutes.
    static func jwt(appId: String, key: RSASigner, now: Date = Date()) throws -> String {
        let iat = Int64(now.timeIntervalSince1970) - 60
        let header = JSON.object(["alg": "RS256", "typ": "JWT"]).encoded()
        let claims = JSON.object(["iat": .int(iat), "exp": .int(iat + 600 - 60), "iss": Int64(appId).map(JSON.int) ?? .string(appId)]).encoded()
        let input = base64URL(Array(header.utf8)) + "." + base64URL(Array(claims.utf8))
        let signature = try key.sign(Array(input.utf8))
        return input + "." + base64URL(signature)
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

/// An installation token and when it stops working.
struct InstallationToken: Sendable {
    var token: String
    var expiresAt: Date
}
