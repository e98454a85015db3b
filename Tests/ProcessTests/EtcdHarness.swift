import Foundation
import XCTest
import ChainClient
#if canImport(Glibc)
import Glibc
#endif

/// A real 3-member etcd cluster on loopback (Debian's etcd-server), started and stopped by PID.
/// Short raft timeouts, as `deploy/cluster.sh` uses, so that etcd accepts 1 s leases.
final class EtcdCluster {
    let dir: String
    private(set) var members: [LocalCluster.Proc] = []
    let clientPorts: [UInt16]
    let peerPorts: [UInt16]

    static var binary: String? {
        ["/usr/bin/etcd", "/usr/local/bin/etcd"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    var endpoints: String { clientPorts.map { "127.0.0.1:\($0)" }.joined(separator: ",") }

    private init(dir: String) {
        self.dir = dir
        clientPorts = (0..<3).map { _ in Harness.freePort() }
        peerPorts = (0..<3).map { _ in Harness.freePort() }
    }

    static func start(dir: String) throws -> EtcdCluster {
        guard let binary else { throw XCTSkip("etcd is not installed (deploy/install-deps.sh installs etcd-server)") }
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let e = EtcdCluster(dir: dir)
        let cluster = (0..<3).map { "e\($0 + 1)=http://127.0.0.1:\(e.peerPorts[$0])" }.joined(separator: ",")
        for i in 0..<3 {
            let p = LocalCluster.Proc(name: "e\(i + 1)", binary: binary, args: [
                "--name", "e\(i + 1)", "--data-dir", "\(dir)/e\(i + 1)",
                "--listen-client-urls", "http://127.0.0.1:\(e.clientPorts[i])", "--advertise-client-urls", "http://127.0.0.1:\(e.clientPorts[i])",
                "--listen-peer-urls", "http://127.0.0.1:\(e.peerPorts[i])", "--initial-advertise-peer-urls", "http://127.0.0.1:\(e.peerPorts[i])",
                "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", "chainstore-test",
                "--heartbeat-interval", "50", "--election-timeout", "500", "--log-level", "warn",
            ], log: "\(dir)/e\(i + 1).log")
            try p.start()
            e.members.append(p)
        }
        guard Harness.waitFor(20, { e.healthy(0) && e.healthy(1) && e.healthy(2) }) else {
            e.stop()
            throw NSError(domain: "etcd", code: 1, userInfo: [NSLocalizedDescriptionKey: "etcd did not start"])
        }
        return e
    }

    /// Member `i` answers and knows a leader.
    func healthy(_ i: Int) -> Bool {
        guard let r = try? HTTPClient.request(method: "POST", host: "127.0.0.1", port: clientPorts[i], path: "/v3/maintenance/status",
                                              body: Array("{}".utf8), timeoutMs: 500), r.status == 200 else { return false }
        return r.text.contains("\"leader\"")
    }

    func member(_ i: Int) -> LocalCluster.Proc { members[i] }

    func stop() {
        for m in members { m.signal(SIGCONT); m.stop(SIGKILL) }
    }
}
