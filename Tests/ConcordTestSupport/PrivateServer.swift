import Foundation

/// A server process of a test's own on random loopback ports: a test can kill
/// it (SIGKILL, an outage) and start it again on the same ports without
/// disturbing any other test. Ports come from below Linux's ephemeral range
/// (32768–60999), so no client socket can be holding them; a port another
/// test holds makes the server exit, and it is tried again on other ports.
/// A server's ports stay reserved in this process while it is killed, so another
/// test's server cannot take them before it starts again; and a start that finds
/// its port already answering fails instead of taking that other server for its own.
public final class PrivateServer {
    private static let reservedLock = NSLock()
    nonisolated(unsafe) private static var reserved: Set<Int> = []

    /// Random ports from `ranges`, none reserved by another server of this process (and now reserved).
    private static func reserve(_ ranges: [Range<Int>]) -> [Int] {
        reservedLock.lock()
        defer { reservedLock.unlock() }
        var ports: [Int] = []
        for r in ranges {
            var p = Int.random(in: r)
            while reserved.contains(p) || ports.contains(p) { p = Int.random(in: r) }
            ports.append(p)
        }
        reserved.formUnion(ports)
        return ports
    }

    private static func release(_ ports: [Int]) {
        reservedLock.lock()
        reserved.subtract(ports)
        reservedLock.unlock()
    }

    public private(set) var ports: [Int]
    private let portRanges: [Range<Int>]
    private let executable: String
    private let arguments: ([Int]) -> [String]
    private let ready: ([Int]) -> Bool
    private var process: Process?

    public init(
        executable: String, portRanges: [Range<Int>], arguments: @escaping ([Int]) -> [String],
        ready: @escaping ([Int]) -> Bool = { $0.allSatisfy(PrivateServer.listening) }
    ) throws {
        self.executable = executable
        self.portRanges = portRanges
        self.arguments = arguments
        self.ready = ready
        ports = Self.reserve(portRanges)
        for attempt in 1...5 {
            do { try start(); return } catch where attempt < 5 {
                Self.release(ports)
                ports = Self.reserve(portRanges)
            }
        }
    }

    /// Starts the server on its ports and waits until `ready` says so.
    public func start() throws {
        // Something already answering on a port is another process's server (not one of this process's: those are reserved).
        if let taken = ports.first(where: PrivateServer.listening) {
            throw NSError(domain: "PrivateServer", code: 1,
                          userInfo: [NSLocalizedDescriptionKey: "\(executable): port \(taken) is already taken by another process"])
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments(ports)
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        process = p
        for _ in 0..<400 {
            if ready(ports) { return }
            if !p.isRunning { break }  // could not bind
            Thread.sleep(forTimeInterval: 0.05)
        }
        stop()
        throw NSError(domain: "PrivateServer", code: 1,
                      userInfo: [NSLocalizedDescriptionKey: "\(executable) did not start on ports \(ports)"])
    }

    /// The running server's process id.
    public var pid: Int32? { process?.processIdentifier }

    /// Kills the server (SIGKILL: an outage, not a shutdown).
    public func stop() {
        if let p = process { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        process = nil
    }

    deinit {
        stop()
        Self.release(ports)
    }

    /// True when something accepts connections on 127.0.0.1:`port`.
    public static func listening(_ port: Int) -> Bool {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(s) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
