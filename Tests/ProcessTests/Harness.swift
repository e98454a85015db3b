import Foundation
import XCTest
import ChainClient
#if canImport(Glibc)
import Glibc
#endif

/// Helpers for tests that start the real binaries. Every process a test starts is tracked by PID
/// and killed in `tearDown`; every wait is bounded.
enum Harness {
    /// Directory holding the built executables: `CHAINSTORE_BIN_DIR`, or the directory of the
    /// test bundle, which SwiftPM builds next to them.
    static var binDir: String {
        if let d = ProcessInfo.processInfo.environment["CHAINSTORE_BIN_DIR"] { return d }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: exe)
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("chainserver").path) {
            url.deleteLastPathComponent()
        }
        return url.path
    }

    static func binary(_ name: String) -> String { binDir + "/" + name }

    /// Ports handed out by `freePort` in this process: the kernel may offer a just-closed port
    /// again, and two processes of one test must not get the same one.
    private static let given = Locked<Set<UInt16>>([])

    /// A port nothing is bound to right now (`probePort`), never the same twice.
    static func freePort() -> UInt16 {
        for _ in 0..<100 {
            let p = probePort()
            var fresh = false
            given.mutate { fresh = $0.insert(p).inserted }
            if fresh { return p }
        }
        return probePort()
    }

    /// A random port below the kernel's ephemeral range that binds right now on 127.0.0.1 and
    /// on ::1. A port the kernel picked (bind to 0) lies inside that range, where any outgoing
    /// connection may take it as its local port before the test's server binds it (seen: a node
    /// of the IPv6 cluster test failing with "Address already in use").
    private static func probePort() -> UInt16 {
        let top = min(ephemeralLow, 32_768)
        if top > 20_100 {
            for _ in 0..<500 {
                let p = UInt16(Int.random(in: 20_000..<top))
                if bindable(p, family: AF_INET) && bindable(p, family: AF_INET6) { return p }
            }
        }
        return kernelPort()
    }

    /// The first port of the kernel's ephemeral range (`ip_local_port_range`).
    private static let ephemeralLow: Int = {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        return text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) } ?? 32_768
    }()

    /// Whether `port` binds on the loopback address of `family` (a family this machine lacks counts as free).
    private static func bindable(_ port: UInt16, family: Int32) -> Bool {
        let s = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { return true }
        defer { close(s) }
        if family == AF_INET6 {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            inet_pton(AF_INET6, "::1", &sin6.sin6_addr)
            return binds(s, sin6)
        }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr)
        return binds(s, sin)
    }

    /// Whether socket `s` binds to `address` (a `sockaddr_in` or `sockaddr_in6`).
    private static func binds<Address>(_ s: Int32, _ address: Address) -> Bool {
        var a = address
        return withUnsafePointer(to: &a) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<Address>.size)) == 0 }
        }
    }

    /// A port the kernel offers on 127.0.0.1 (bind to 0, read it, close).
    private static func kernelPort() -> UInt16 {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(s) }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = 0
        inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sin) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa -> Int32 in
                _ = bind(s, sa, len)
                return getsockname(s, sa, &len)
            }
        }
        return UInt16(bigEndian: sin.sin_port)
    }

    static func tempDir(_ label: String) -> String {
        let path = NSTemporaryDirectory() + "chainstore-\(label)-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Polls `condition` every 20 ms until it holds or `seconds` pass.
    @discardableResult
    static func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    /// Runs a command to completion (bounded) and returns its exit code and output.
    static func run(_ path: String, _ args: [String], stdin: String? = nil, timeout: Double = 20) throws -> (code: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        try p.run()
        if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? inp.fileHandleForWriting.close()
        // Read concurrently so a chatty process cannot block on a full pipe.
        nonisolated(unsafe) var outData = Data(), errData = Data()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        if !waitFor(timeout, { !p.isRunning }) {
            kill(p.processIdentifier, SIGKILL)
            XCTFail("\(path) \(args) did not finish within \(timeout)s")
        }
        p.waitUntilExit()
        _ = group.wait(timeout: .now() + 5)
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// Debian's Python, where Debian's python3-redis (redis-py) is installed (a `python3` earlier
    /// on PATH may be another installation without it).
    static let systemPython = "/usr/bin/python3"

    /// `redis-cli` from Debian's redis-tools.
    static var redisCLI: String {
        for p in ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"] where FileManager.default.isExecutableFile(atPath: p) { return p }
        return "redis-cli"
    }
}

/// One `chainserver` process.
final class ServerProcess {
    let port: UInt16
    let httpPort: UInt16
    let dataDir: String
    let extraArgs: [String]
    let logPath: String
    private(set) var process: Process?

    init(dataDir: String, port: UInt16 = Harness.freePort(), httpPort: UInt16 = Harness.freePort(), extraArgs: [String] = []) {
        self.port = port
        self.httpPort = httpPort
        self.dataDir = dataDir
        self.extraArgs = extraArgs
        self.logPath = dataDir + ".log"
    }

    var pid: Int32 { process?.processIdentifier ?? 0 }

    var arguments: [String] {
        ["--standalone", "--data-dir", dataDir, "--listen", "127.0.0.1:\(port)",
         "--http-listen", "127.0.0.1:\(httpPort)"] + extraArgs
    }

    /// Starts the server and waits (bounded) until it answers PING (its health check when its
    /// client port speaks TLS).
    func start(file: StaticString = #filePath, line: UInt = #line) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Harness.binary("chainserver"))
        p.arguments = arguments
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let logFile = FileHandle(forWritingAtPath: logPath)!
        logFile.seekToEndOfFile()
        p.standardError = logFile
        p.standardOutput = logFile
        try p.run()
        process = p
        let tls = extraArgs.contains("--tls-cert-file")
        let up = Harness.waitFor(15) {
            guard p.isRunning else { return false }
            // (Over --http-tls the endpoint only has to be listening.)
            if extraArgs.contains("--http-tls") { return (try? RESPClient(port: httpPort, timeoutMs: 500)) != nil }
            // (Any answer will do: a cluster node's /healthz is 503 until the master gives it a lease.)
            if tls { return (try? HTTPClient.get(host: "127.0.0.1", port: httpPort, path: "/healthz", timeoutMs: 500)) != nil }
            guard let c = try? RESPClient(port: port, timeoutMs: 500) else { return false }
            return (try? c.call("PING")) == .simple("PONG")
        }
        if !up {
            XCTFail("chainserver did not come up; log:\n\(log(tail: 2000))", file: file, line: line)
            throw RESPClient.Failure.closed
        }
    }

    func client(timeoutMs: Int = 5000) throws -> RESPClient { try RESPClient(port: port, timeoutMs: timeoutMs) }

    func signal(_ sig: Int32) { if let p = process, p.isRunning { kill(p.processIdentifier, sig) } }

    /// Waits (bounded) for the process to exit; returns its exit status, or nil if it did not.
    @discardableResult
    func waitForExit(_ seconds: Double = 10) -> Int32? {
        guard let p = process else { return nil }
        guard Harness.waitFor(seconds, { !p.isRunning }) else { return nil }
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// SIGTERM, then SIGKILL if it does not stop in time.
    func stop() {
        guard let p = process, p.isRunning else { return }
        kill(p.processIdentifier, SIGTERM)
        if waitForExit(10) == nil { kill(p.processIdentifier, SIGKILL); waitForExit(5) }
    }

    func kill9() {
        signal(SIGKILL)
        waitForExit(5)
    }

    func log(tail: Int) -> String {
        let s = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return String(s.suffix(tail))
    }

    func http(_ path: String) throws -> HTTPClient.Response {
        try HTTPClient.get(host: "127.0.0.1", port: httpPort, path: path)
    }

    /// The value of one Prometheus sample (`name{labels}`) from /metrics, 0 if absent.
    func metric(_ sample: String) throws -> Double {
        for line in try http("/metrics").text.split(separator: "\n") where line.hasPrefix(sample + " ") {
            return Double(line.split(separator: " ").last!) ?? 0
        }
        return 0
    }

    /// Runs redis-cli against this server.
    func cli(_ args: String..., stdin: String? = nil) throws -> String {
        try Harness.run(Harness.redisCLI, ["-p", "\(port)"] + args, stdin: stdin).out
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Base class: tracks servers and directories and cleans them up.
class ProcessTestCase: XCTestCase {
    private var servers: [ServerProcess] = []
    private var dirs: [String] = []

    func makeServer(_ label: String, extraArgs: [String] = [], start: Bool = true) throws -> ServerProcess {
        let dir = Harness.tempDir(label)
        dirs.append(dir)
        let s = ServerProcess(dataDir: dir, extraArgs: extraArgs)
        servers.append(s)
        if start { try s.start() }
        return s
    }

    func track(_ s: ServerProcess) { servers.append(s) }

    override func tearDown() {
        for s in servers {
            if let p = s.process, p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        }
        for d in dirs {
            try? FileManager.default.removeItem(atPath: d)
            try? FileManager.default.removeItem(atPath: d + ".log")
        }
        servers.removeAll()
        dirs.removeAll()
        super.tearDown()
    }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
