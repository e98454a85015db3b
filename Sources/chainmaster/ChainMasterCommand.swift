import ArgumentParser
import ChainCLI
import ChainClient
import ChainSecurity
import ChainMasterKit
import ChainVersion
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
        discussion: """
        State: --store file (default) keeps it in --data-dir; --store etcd keeps it in etcd under --etcd-prefix, and \
        several chainmasters (one per host, each with its own --listen/--advertise) elect one leader through etcd; \
        the others stand by and take over when it dies.
        Exit codes: 0 clean shutdown, 2 data directory unusable or the etcd prefix holds foreign data, 3 cannot listen, \
        4 etcd unreachable at start, 64 bad flags.
        """,
        version: "chainmaster \(BuildInfo.description)")

    @Option(help: "Address of the HTTP/JSON API (HOST:PORT).")
    var listen: String = "127.0.0.1:7000"

    @Option(name: .customLong("data-dir"), help: "Directory for the master's durable state (--store file).")
    var dataDir: String?

    @Option(help: "Members per chain.")
    var replication: Int = 3

    @Option(help: "Chains in the table (fixed at cluster creation). Default: 4 × the nodes it is formed with.")
    var chains: Int?

    @Option(name: .customLong("initial-nodes"), help: "Nodes to wait for before forming the table (default: --replication).")
    var initialNodes: Int?

    @Option(name: .customLong("lease-ms"), help: "A node not heard from for this long has lost its lease (default 2000; 3000 with --store etcd, so that node leases outlast a master handover).")
    var leaseMs: Int?

    @Option(help: "Where the master's state lives: file (--data-dir) or etcd (--etcd-endpoints).")
    var store: String = "file"

    @Option(name: .customLong("etcd-endpoints"), help: "With --store etcd: the etcd members' client addresses, HOST:PORT,HOST:PORT,…")
    var etcdEndpoints: String?

    @Option(name: .customLong("etcd-prefix"), help: "With --store etcd: the key prefix of this cluster's state and election.")
    var etcdPrefix: String = "/chainstore/default"

    @Option(name: .customLong("etcd-lease-ttl"), help: "With --store etcd: seconds of the leader's etcd lease; a dead leader is replaced about this long after it died (etcd may raise it to its own minimum).")
    var etcdLeaseTTL: Int = 1

    @Option(name: .customLong("etcd-user"), help: "With --store etcd: authenticate to etcd as this user.")
    var etcdUser: String?

    @Option(name: .customLong("etcd-password-file"), help: "With --etcd-user: a file holding the user's password.")
    var etcdPasswordFile: String?

    @Option(name: .customLong("etcd-ca-file"), help: "With --store etcd: speak TLS to etcd, checking its certificates against this CA (PEM).")
    var etcdCAFile: String?

    @Option(name: .customLong("etcd-wait-ms"), help: "With --store etcd: how long to wait for etcd at start before giving up (exit code 4).")
    var etcdWaitMs: Int = 10_000

    @Option(name: .customLong("seed-from-file"), help: "With --store etcd: a file store's state.json to write under --etcd-prefix if it holds no state yet (moving a cluster from the file store to etcd).")
    var seedFromFile: String?

    @Option(help: "The API address other masters, nodes and tools reach this master at (default: --listen).")
    var advertise: String?

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
        if store == "file" && dataDir == nil { throw ValidationError("--store file needs --data-dir DIR") }
        guard ["file", "etcd"].contains(store) else { throw ValidationError("--store must be 'file' or 'etcd', not '\(store)'") }
        if store == "etcd" {
            guard let e = etcdEndpoints, !e.isEmpty else { throw ValidationError("--store etcd needs --etcd-endpoints HOST:PORT[,HOST:PORT…]") }
            guard (1...60).contains(etcdLeaseTTL) else { throw ValidationError("--etcd-lease-ttl must be between 1 and 60 seconds") }
            if etcdPasswordFile != nil && etcdUser == nil { throw ValidationError("--etcd-password-file needs --etcd-user") }
            if let f = etcdPasswordFile, SecretFile.read(f) == nil { throw ValidationError("--etcd-password-file \(f) must be readable and not empty") }
            if leaseMs == nil && etcdLeaseTTL * 1000 + 1000 > effectiveLeaseMs {
                throw ValidationError("--etcd-lease-ttl \(etcdLeaseTTL) s needs --lease-ms above \(etcdLeaseTTL * 1000 + 1000): node leases must outlast a master handover")
            }
        } else if etcdEndpoints != nil || seedFromFile != nil {
            throw ValidationError("--etcd-endpoints and --seed-from-file need --store etcd")
        }
        if let a = advertise, HostPort(a) == nil { throw ValidationError("--advertise: invalid address '\(a)' (expected HOST:PORT)") }
        let leaseMs = effectiveLeaseMs
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

    var effectiveLeaseMs: Int { leaseMs ?? (store == "etcd" ? 3000 : 2000) }

    func run() throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "chainmaster")
        var config = MasterConfig(listen: try! SocketAddress(parsing: listen), dataDir: dataDir ?? "")
        config.replication = replication
        config.chains = chains
        config.initialNodes = initialNodes ?? replication
        config.leaseMs = effectiveLeaseMs
        if let advertise { config.advertise = advertise }
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
        if store == "etcd" {
            var etcd = Master.EtcdOptions(endpoints: etcdEndpoints!.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }, prefix: etcdPrefix)
            etcd.leaseTTLSeconds = etcdLeaseTTL
            etcd.user = etcdUser
            etcd.password = etcdPasswordFile.flatMap(SecretFile.read)
            etcd.waitMs = max(0, etcdWaitMs)
            etcd.seedFile = seedFromFile
            if let ca = etcdCAFile {
                do { etcd.tls = try TLSContext(role: .client, certificateFile: nil, keyFile: nil, caFile: ca) } catch { fail("chainmaster: --etcd-ca-file: \(error)", 64) }
            }
            do { master = try Master.onEtcd(config: config, loop: loop, logger: logger, etcd: etcd) } catch {
                switch error {
                case .usage: fail("chainmaster: \(error)", 64)
                case .unreachable: fail("chainmaster: \(error)", 4)
                case .foreign: fail("chainmaster: \(error)", 2)
                }
            }
        } else {
            do { master = try Master(config: config, loop: loop, logger: logger) } catch { fail("chainmaster: data directory \(dataDir ?? ""): \(error)", 2) }
        }
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
