import ArgumentParser
import ChainCLI
import ChainSecurity
import ChainMasterKit
import EventLoop
import Logging
#if canImport(Glibc)
import Glibc
#endif

@main
struct ChainMasterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chainmaster",
        abstract: "chainstore configuration master: membership, the chain table, leases.",
        discussion: "Exit codes: 0 clean shutdown, 2 data directory unusable, 3 cannot listen, 64 bad flags.")

    @Option(help: "Address of the HTTP/JSON API (HOST:PORT).")
    var listen: String = "127.0.0.1:7000"

    @Option(name: .customLong("data-dir"), help: "Directory for the master's durable state.")
    var dataDir: String

    @Option(help: "Members per chain.")
    var replication: Int = 3

    @Option(help: "Chains in the table (fixed at cluster creation). Default: 4 × the nodes it is formed with.")
    var chains: Int?

    @Option(name: .customLong("initial-nodes"), help: "Nodes to wait for before forming the table (default: --replication).")
    var initialNodes: Int?

    @Option(name: .customLong("lease-ms"), help: "A node not heard from for this long has lost its lease.")
    var leaseMs: Int = 2000

    @Option(name: .customLong("heartbeat-ms"), help: "How often nodes heartbeat.")
    var heartbeatMs: Int = 500

    @Option(name: .customLong("max-joins-per-node"), help: "Chains one node may be catching up at once.")
    var maxJoinsPerNode: Int = 4

    @Option(name: .customLong("recover-nodes"), help: "The master's state was lost: rebuild it from the nodes, adopting the newest chain table once this many nodes have registered (use the cluster's node count).")
    var recoverNodes: Int = 0

    @Flag(name: .customLong("auto-rebalance"), help: "Add every node that registers with a formed cluster to the layout at once (otherwise it waits as a spare for 'chainctl add').")
    var autoRebalance = false

    @Option(name: .customLong("api-token-file"), help: "File holding the API token: every POST (node registration, heartbeats, add/drain/remove) must send it as 'Authorization: Bearer TOKEN'. Without it the API is open.")
    var apiTokenFile: String?

    @Flag(name: .customLong("protect-reads"), help: "With --api-token-file: require the token for reads too (status, configuration, metrics); /healthz stays open.")
    var protectReads = false

    @OptionGroup(title: "TLS for the API")
    var tls: ServerTLSFlags

    @Option(name: .customLong("log-level"))
    var logLevel: String = "info"

    func validate() throws {
        guard replication >= 1 && replication <= 16 else { throw ValidationError("--replication must be between 1 and 16") }
        if let c = chains, c < 1 || c > 16384 { throw ValidationError("--chains must be between 1 and 16384") }
        guard heartbeatMs >= 10, leaseMs >= 2 * heartbeatMs else {
            throw ValidationError("--lease-ms must be at least twice --heartbeat-ms (and --heartbeat-ms at least 10)")
        }
        if let n = initialNodes, n < replication { throw ValidationError("--initial-nodes must be at least --replication") }
        do { _ = try SocketAddress(parsing: listen) } catch { throw ValidationError("--listen: \(error)") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        if let f = apiTokenFile, SecretFile.read(f) == nil { throw ValidationError("--api-token-file \(f) must be readable and not empty") }
        if protectReads && apiTokenFile == nil { throw ValidationError("--protect-reads needs --api-token-file") }
        _ = try tls.serverContext()
    }

    func run() throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "chainmaster")
        var config = MasterConfig(listen: try! SocketAddress(parsing: listen), dataDir: dataDir)
        config.replication = replication
        config.chains = chains
        config.initialNodes = initialNodes ?? replication
        config.leaseMs = leaseMs
        config.heartbeatMs = heartbeatMs
        config.maxJoinsPerNode = max(1, maxJoinsPerNode)
        config.autoRebalance = autoRebalance
        config.recoverNodes = max(0, recoverNodes)
        config.apiToken = apiTokenFile.flatMap(SecretFile.read)
        config.protectReads = protectReads
        config.tls = try tls.serverContext()
        let loop: EventLoop
        do { loop = try EventLoop() } catch { fail("chainmaster: \(error)", 1) }
        let master: Master
        do { master = try Master(config: config, loop: loop, logger: logger) } catch { fail("chainmaster: data directory \(dataDir): \(error)", 2) }
        do { try master.start() } catch { fail("chainmaster: \(error)", 3) }
        loop.run()
        master.drain()
    }

    private func fail(_ message: String, _ code: Int32) -> Never {
        let line = Array((message + "\n").utf8)
        _ = line.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
        Glibc.exit(code)
    }
}
