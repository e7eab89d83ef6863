import Foundation

/// Wall-clock milliseconds since the epoch.
public func nowMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }
