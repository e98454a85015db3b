import Foundation
import XCTest
import ChainClient
import ChainCore
import ChainSecurity
#if canImport(Glibc)
import Glibc
#endif

/// A local cluster of real processes: one `chainmaster` and N `chainserver`s on free loopback
/// ports, sharing a secret file. Every process is tracked by PID and killed in `shutdown`.
final class LocalCluster {
    final class Proc {
        let name: String
        let args: [String]
        let binary: String
        let log: String
        var process: Process?
        init(name: String, binary: String, args: [String], log: String) {
            self.name = name
            self.binary = binary
            self.args = args
            self.log = log
        }

        func start() throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = args
            if !FileManager.default.fileExists(atPath: log) { _ = FileManager.default.createFile(atPath: log, contents: nil) }
            let h = FileHandle(forWritingAtPath: log)!
            h.seekToEndOfFile()
            p.standardOutput = h
            p.standardError = h
            try p.run()
            process = p
        }

        var isRunning: Bool { process?.isRunning ?? false }
        var pid: Int32 { process?.processIdentifier ?? 0 }

        func signal(_ s: Int32) { if isRunning { kill(pid, s) } }

        func stop(_ sig: Int32 = SIGTERM) {
            guard let p = process, p.isRunning else { return }
            kill(p.processIdentifier, sig)
            if !Harness.waitFor(10, { !p.isRunning }) { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
    }

    struct NodePorts {
        var client: UInt16
        var peer: UInt16
        var http: UInt16
    }

    let dir: String
    let masterPort: UInt16
    var master: Proc!
    var nodes: [String: Proc] = [:]
    var ports: [String: NodePorts] = [:]
    let secretFile: String
    /// Set when the master serves HTTPS: the harness's own requests use it, and `ctlTLSArgs`
    /// go to every chainctl the harness runs.
    var masterTLS: TLSContext?
    var ctlTLSArgs: [String] = []

    /// The loopback address every process listens on and is reached at ("::1" for a cluster
    /// that speaks IPv6 only).
    let loopback: String

    func address(_ port: UInt16) -> String { HostPortSyntax.format(host: loopback, port: port) }

    init(label: String, loopback: String = "127.0.0.1") {
        self.loopback = loopback
        dir = Harness.tempDir("cluster-\(label)")
        masterPort = Harness.freePort()
        secretFile = dir + "/secret"
        try? "test-cluster-secret-0123456789\n".write(toFile: secretFile, atomically: true, encoding: .utf8)
    }

    /// With masters on etcd (`startMasters`): each master, by its API port.
    var haMasters: [(port: UInt16, proc: Proc)] = []
    var etcd: EtcdCluster?

    /// The master's address, or every master's, comma-separated (what `--master` takes).
    var masterAddress: String {
        haMasters.isEmpty ? address(masterPort) : haMasters.map { address($0.port) }.joined(separator: ",")
    }

    /// Starts a 3-member etcd and `count` chainmasters on it (`--store etcd`); nodes started
    /// afterwards get all of them.
    func startMasters(count: Int = 3, replication: Int = 3, initialNodes: Int? = nil, leaseMs: Int = 3000, heartbeatMs: Int = 500,
                      extra: [String] = []) throws {
        let e = try EtcdCluster.start(dir: dir + "/etcd")
        etcd = e
        for i in 1...count {
            let port = i == 1 ? masterPort : Harness.freePort()
            var args = ["--listen", "127.0.0.1:\(port)", "--store", "etcd", "--etcd-endpoints", e.endpoints, "--etcd-prefix", "/chainstore/test",
                        "--replication", "\(replication)", "--heartbeat-ms", "\(heartbeatMs)", "--lease-ms", "\(leaseMs)"]
            if let initialNodes { args += ["--initial-nodes", "\(initialNodes)"] }
            let p = Proc(name: "m\(i)", binary: Harness.binary("chainmaster"), args: args + extra, log: dir + "/m\(i).log")
            try p.start()
            haMasters.append((port, p))
        }
        master = haMasters[0].proc
        guard Harness.waitFor(20, { self.leader() != nil }) else {
            throw NSError(domain: "cluster", code: 1, userInfo: [NSLocalizedDescriptionKey: "no master leads: \(logs())"])
        }
    }

    /// The port of the master that leads now (asked of each master: the one whose /metrics say so).
    func leader() -> UInt16? {
        for m in haMasters where m.proc.isRunning {
            guard let r = try? HTTPClient.get(host: "127.0.0.1", port: m.port, path: "/metrics", timeoutMs: 500) else { continue }
            if r.text.split(separator: "\n").contains(where: { $0 == "chainmaster_leader 1.0" || $0 == "chainmaster_leader 1" }) { return m.port }
        }
        return nil
    }

    func masterProc(port: UInt16) -> Proc? { haMasters.first { $0.port == port }?.proc }

    func startMaster(replication: Int = 3, chains: Int? = nil, initialNodes: Int? = nil, extra: [String] = []) throws {
        var args = ["--listen", masterAddress, "--data-dir", dir + "/master", "--replication", "\(replication)",
                    "--heartbeat-ms", "100", "--lease-ms", "1000"]
        if let initialNodes { args += ["--initial-nodes", "\(initialNodes)"] }
        if let chains { args += ["--chains", "\(chains)"] }
        master = Proc(name: "master", binary: Harness.binary("chainmaster"), args: args + extra, log: dir + "/master.log")
        try master.start()
        guard Harness.waitFor(10, { (try? HTTPClient.get(host: self.loopback, port: self.masterPort, path: "/healthz", tls: self.masterTLS))?.status == 200 }) else {
            throw XCTSkip("master did not start: \(tail(dir + "/master.log"))")
        }
    }

    @discardableResult
    func startNode(_ id: String, durability: String = "memory", secretFile: String? = nil, master: String? = nil,
                   extra: [String] = []) throws -> Proc {
        let p = ports[id] ?? NodePorts(client: Harness.freePort(), peer: Harness.freePort(), http: Harness.freePort())
        ports[id] = p
        let args = ["--id", id, "--master", master ?? masterAddress, "--listen", address(p.client),
                    "--peer-listen", address(p.peer), "--http-listen", address(p.http),
                    "--data-dir", dir + "/" + id, "--cluster-secret-file", secretFile ?? self.secretFile,
                    "--durability", durability] + extra
        let proc = Proc(name: id, binary: Harness.binary("chainserver"), args: args, log: dir + "/\(id).log")
        nodes[id] = proc
        try proc.start()
        return proc
    }

    /// Starts a master and `n` nodes and waits until `chainctl wait --healthy` says so.
    static func start(label: String, nodes n: Int = 3, replication: Int = 3, chains: Int? = nil,
                      durability: String = "memory", loopback: String = "127.0.0.1") throws -> LocalCluster {
        let c = LocalCluster(label: label, loopback: loopback)
        // The caller only gets the cluster (and shuts it down) once it is up: a start that fails
        // stops what it started.
        do {
            // Every node is in the table from the start (none is left over as a spare).
            try c.startMaster(replication: replication, chains: chains, initialNodes: max(n, replication))
            for i in 1...n { try c.startNode("n\(i)", durability: durability) }
            try c.waitHealthy()
        } catch {
            c.shutdown()
            throw error
        }
        return c
    }

    func waitHealthy(timeout: Double = 20) throws {
        let r = try Harness.run(Harness.binary("chainctl"), ["--master", masterAddress] + ctlTLSArgs + ["wait", "--healthy", "--timeout", "\(timeout)"], timeout: timeout + 10)
        guard r.code == 0 else {
            throw NSError(domain: "cluster", code: 1, userInfo: [NSLocalizedDescriptionKey: "cluster not healthy: \(r.err) \(logs())"])
        }
    }

    /// Waits (bounded) until the cluster is healthy and settled: every chain full and in its
    /// planned order, none joining or frozen for a reorder (a restart leaves reorders behind
    /// the health check).
    func waitSettled(timeout: Double = 60) -> Bool {
        Harness.waitFor(timeout) {
            guard let s = try? self.status() else { return false }
            return s.healthy && s.chains.allSatisfy { $0.state == "ok" && $0.joining == nil && $0.members.count == s.chains[0].members.count }
        }
    }

    func ctl(_ args: [String]) throws -> (code: Int32, out: String, err: String) {
        try Harness.run(Harness.binary("chainctl"), ["--master", masterAddress] + ctlTLSArgs + args)
    }

    func status() throws -> MasterAPI.Status {
        let r = try MasterEndpoints(masterAddress)!.request(method: "GET", path: "/v1/status", tls: masterTLS)
        return try JSONDecoder().decode(MasterAPI.Status.self, from: Data(r.body))
    }

    func client(_ node: String, timeoutMs: Int = 5000) throws -> RESPClient {
        try RESPClient(host: loopback, port: ports[node]!.client, timeoutMs: timeoutMs)
    }

    func smartClient() throws -> ClusterClient { try ClusterClient(master: masterAddress) }

    /// A master's metric sample (0 when absent).
    func masterMetric(port: UInt16, _ sample: String) -> Double {
        let r = try? HTTPClient.get(host: loopback, port: port, path: "/metrics", timeoutMs: 1000)
        for line in (r?.text ?? "").split(separator: "\n") where line.hasPrefix(sample + " ") {
            return Double(line.split(separator: " ").last!) ?? 0
        }
        return 0
    }

    func metric(_ node: String, _ sample: String) throws -> Double {
        let r = try HTTPClient.get(host: loopback, port: ports[node]!.http, path: "/metrics")
        for line in r.text.split(separator: "\n") where line.hasPrefix(sample + " ") {
            return Double(line.split(separator: " ").last!) ?? 0
        }
        return 0
    }

    struct Digest: Decodable, Equatable {
        var id: Int
        var keys: Int
        var digest: String
        var applied: UInt64
    }

    func digests(_ node: String) throws -> [Int: Digest] {
        let r = try HTTPClient.get(host: loopback, port: ports[node]!.http, path: "/digests")
        let list = try JSONDecoder().decode([Digest].self, from: Data(r.body))
        return Dictionary(uniqueKeysWithValues: list.map { ($0.id, $0) })
    }

    func logs() -> String {
        let masterLogs = haMasters.isEmpty ? [master?.log].compactMap { $0 } : haMasters.map(\.proc.log)
        return (masterLogs + nodes.values.map(\.log)).map { "== \($0)\n" + tail($0) }.joined(separator: "\n")
    }

    func tail(_ path: String) -> String {
        String(((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").suffix(1500))
    }

    func shutdown() {
        for p in nodes.values { p.stop(SIGKILL) }
        for m in haMasters { m.proc.signal(SIGCONT); m.proc.stop(SIGKILL) }
        master?.stop(SIGKILL)
        etcd?.stop()
        // CHAIN_KEEP_LOGS=1 keeps the data and logs of a run for a post-mortem.
        if ProcessInfo.processInfo.environment["CHAIN_KEEP_LOGS"] == nil { try? FileManager.default.removeItem(atPath: dir) }
    }
}

/// Base class of tests that start a `LocalCluster` (in `cluster`, shut down after each test)
/// and possibly standalone servers (`ProcessTestCase`).
class ClusterTestCase: ProcessTestCase {
    var cluster: LocalCluster?

    override func tearDown() {
        cluster?.shutdown()
        cluster = nil
        super.tearDown()
    }
}
