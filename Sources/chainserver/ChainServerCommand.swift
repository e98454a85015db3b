import ArgumentParser
import ChainCLI
import ChainClient
import ChainCore
import ChainSecurity
import Foundation
import ChainServer
import ChainVersion
import EventLoop
import Logging
import Storage
#if canImport(Glibc)
import Glibc
#endif

@main
struct ChainServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chainserver",
        abstract: "chainstore storage node: serves Redis-protocol clients from a RocksDB store.",
        discussion: """
        Exit codes: 0 clean shutdown, 2 data directory unusable or in use, 3 cannot listen, \
        64 bad flags.
        """,
        version: "chainserver \(BuildInfo.description)")

    @Flag(help: "Run as a single node without a configuration master.")
    var standalone = false

    @Option(help: "Stable node id (kept in the data directory; generated on first start if not given).")
    var id: String?

    @Option(help: "Configuration master(s): HOST:PORT, or several comma-separated (masters on etcd: the leader is followed); also $CHAIN_MASTER.")
    var master: String?

    @Option(name: .customLong("peer-listen"), help: "Address for chain links from other nodes (HOST:PORT).")
    var peerListen: String = "127.0.0.1:7380"

    @Option(name: .customLong("cluster-secret-file"), help: "File holding the secret shared by every node of the cluster.")
    var clusterSecretFile: String?

    @Option(name: .customLong("master-token-file"), help: "File holding the master's API token (when the master runs with --api-token-file).")
    var masterTokenFile: String?

    @Option(name: .customLong("requirepass-file"), help: "File holding the password of the default user; clients must AUTH before anything else.")
    var requirepassFile: String?

    @Option(name: .customLong("users-file"), help: "File of named users, one per line: NAME rw|ro PASSWORD (ro: reads only).")
    var usersFile: String?

    @OptionGroup(title: "TLS (client port; with --peer-tls, --master-tls, --http-tls also those links)")
    var tls: ServerTLSFlags

    @Flag(name: .customLong("http-tls"), help: "HTTPS on --http-listen too (metrics, health, status), with the client port's certificate and client-certificate policy.")
    var httpTLS = false

    @Flag(name: .customLong("peer-tls"), help: "Mutual TLS on the links between nodes too, with --tls-cert-file, --tls-key-file and --tls-ca-file (every node of the cluster must use it).")
    var peerTLS = false

    @Flag(name: .customLong("master-tls"), help: "HTTPS to the master, checking its certificate against --tls-ca-file (and presenting --tls-cert-file/--tls-key-file when given, for a master with --tls-client-auth).")
    var masterTLS = false

    @Option(help: "Address for RESP clients (HOST:PORT).")
    var listen: String = "127.0.0.1:6380"

    @Option(name: .customLong("http-listen"), help: "Address for /healthz, /readyz, /status and /metrics (HOST:PORT); empty to disable.")
    var httpListen: String = ""

    @Option(name: .customLong("advertise-host"), help: "Host (DNS name or address) peers and clients reach this node at, with the listen ports (for a node that listens on 0.0.0.0, [::] or behind NAT). Default: the listen addresses.")
    var advertiseHost: String?

    @Option(name: .customLong("advertise-client"), help: "Full HOST:PORT clients reach the RESP port at (a port mapped by NAT or a container runtime).")
    var advertiseClient: String?

    @Option(name: .customLong("advertise-peer"), help: "Full HOST:PORT other nodes reach the peer port at.")
    var advertisePeer: String?

    @Option(name: .customLong("advertise-http"), help: "Full HOST:PORT the HTTP endpoint is reached at.")
    var advertiseHTTP: String?

    @Option(name: .customLong("data-dir"), help: "Directory of the node's RocksDB.")
    var dataDir: String

    @Option(help: "When a write is acknowledged: fsync (WAL synced, group commit) or memory (in memory on every replica, no WAL).")
    var durability: String = "fsync"

    @Option(name: .customLong("max-value-bytes"), help: "Largest key or value accepted.")
    var maxValueBytes: Int = 16 << 20

    @Option(name: .customLong("max-clients"), help: "Most simultaneous client connections.")
    var maxClients: Int = 10_000

    @Option(name: .customLong("max-output-bytes"), help: "Replies queued for one client before it is disconnected.")
    var maxOutputBytes: Int = 64 << 20

    @Option(name: .customLong("max-request-bytes"), help: "Partly received request bytes held for one client before it is disconnected.")
    var maxRequestBytes: Int = 256 << 20

    @Option(name: .customLong("cache-bytes"), help: "Memory for the value cache in front of RocksDB; 0 disables it.")
    var cacheBytes: Int = 256 << 20

    @Option(name: .customLong("min-free-disk-mb"), help: "Refuse writes while the data directory's disk has less free than this (RocksDB must never run out of space); 0 disables.")
    var minFreeDiskMB: Int = 64

    @Option(name: .customLong("max-forwarded"), help: "Requests forwarded to other nodes and not yet answered; past it, more get TRYAGAIN.")
    var maxForwarded: Int = 10_000

    @Option(name: .customLong("idle-timeout-s"), help: "Close a client connection idle this long (0 = never).")
    var idleTimeout: Double = 0

    @Option(name: .customLong("request-timeout-s"), help: "Close a client connection whose partly sent request has not completed for this long (slow or stuck clients); 0 = never.")
    var requestTimeout: Double = 30

    @Option(name: .customLong("transfer-rate-mb"), help: "Cap in MB/s on the chain copies this node sends to joining nodes (all together); 0 = no cap.")
    var transferRateMB: Double = 0

    @Option(name: .customLong("debug-fail-writes-after"), help: .hidden)
    var debugFailWritesAfter: Int?

    @Flag(name: .customLong("debug-announce-no-peer-features"), help: .hidden)
    var debugAnnounceNoPeerFeatures = false

    @Option(name: .customLong("catchup-backlog-mb"), help: "Recent updates kept (all chains together) so a node that comes back gets only what it missed instead of a full copy; 0 = always full copies.")
    var catchUpBacklogMB: Int = 64

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func validate() throws {
        if !standalone {
            guard let m = masterAddress else { throw ValidationError("give --master HOST:PORT (or $CHAIN_MASTER), or run with --standalone") }
            guard MasterEndpoints(m) != nil else { throw ValidationError("--master: invalid address in '\(m)' (expected HOST:PORT[,HOST:PORT…]; HOST is an IPv4 address, [IPv6] or a DNS name)") }
            if let h = advertiseHost, HostPortSyntax.parse(HostPortSyntax.format(host: h, port: 1)) == nil {
                throw ValidationError("--advertise-host: invalid host '\(h)' (an IPv4 address, an IPv6 address or a DNS name)")
            }
            for (flag, v) in [("--advertise-client", advertiseClient), ("--advertise-peer", advertisePeer), ("--advertise-http", advertiseHTTP)] {
                if let v, HostPortSyntax.parse(v) == nil { throw ValidationError("\(flag): invalid address '\(v)' (expected HOST:PORT)") }
            }
            do { _ = try SocketAddress(parsing: peerListen) } catch { throw ValidationError("--peer-listen: \(error)") }
            guard let f = clusterSecretFile else { throw ValidationError("cluster mode needs --cluster-secret-file") }
            guard let secret = try? String(contentsOfFile: f, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
                  secret.utf8.count >= 16 else {
                throw ValidationError("--cluster-secret-file \(f) must be readable and hold at least 16 characters")
            }
        }
        _ = try userTable()
        _ = try tlsContexts()
        _ = try peerTLSContexts()
        _ = try masterTLSContext()
        if httpTLS && tls.certFile == nil { throw ValidationError("--http-tls needs --tls-cert-file and --tls-key-file") }
        if let f = masterTokenFile, SecretFile.read(f) == nil { throw ValidationError("--master-token-file \(f) must be readable and not empty") }
        guard idleTimeout >= 0 && requestTimeout >= 0 && idleTimeout.isFinite && requestTimeout.isFinite else {
            throw ValidationError("--idle-timeout-s and --request-timeout-s must be 0 (never) or positive")
        }
        guard transferRateMB >= 0 && transferRateMB.isFinite else { throw ValidationError("--transfer-rate-mb must be 0 (no cap) or positive") }
        guard catchUpBacklogMB >= 0 && catchUpBacklogMB <= 1 << 20 else { throw ValidationError("--catchup-backlog-mb must be between 0 and 1048576") }
        if let id, !MasterState.isValidID(id) { throw ValidationError("--id: use 1-64 letters, digits, '-', '_' or '.'") }
        guard Durability(rawValue: durability) != nil else {
            throw ValidationError("--durability must be fsync or memory, not '\(durability)'")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        for (name, v) in [("--max-value-bytes", maxValueBytes), ("--max-clients", maxClients),
                          ("--max-output-bytes", maxOutputBytes), ("--max-request-bytes", maxRequestBytes),
                          ("--cache-bytes", cacheBytes + 1), ("--max-forwarded", maxForwarded)] where v <= 0 {
            throw ValidationError("\(name) must be positive")
        }
        do { _ = try SocketAddress(parsing: listen) } catch { throw ValidationError("--listen: \(error)") }
        if !httpListen.isEmpty {
            do { _ = try SocketAddress(parsing: httpListen) } catch { throw ValidationError("--http-listen: \(error)") }
        }
    }

    /// The client-port TLS contexts from the --tls-* flags (nil without a certificate).
    func tlsContexts() throws -> (server: TLSContext, forwarding: TLSContext)? {
        guard let server = try tls.serverContext(caAlone: masterTLS) else { return nil }
        return (server, try tls.clientContext())
    }

    /// `--peer-tls`: mutual TLS contexts for the peer links, from the same certificate and CA.
    func peerTLSContexts() throws -> (server: TLSContext, client: TLSContext)? {
        guard peerTLS else { return nil }
        guard !standalone else { throw ValidationError("--peer-tls is for cluster nodes") }
        guard tls.certFile != nil, tls.keyFile != nil, tls.caFile != nil else {
            throw ValidationError("--peer-tls needs --tls-cert-file, --tls-key-file and --tls-ca-file")
        }
        var mutual = tls
        mutual.clientAuth = true
        return (try mutual.serverContext()!, try tls.clientContext())
    }

    /// `--master-tls`: the client context for HTTPS to the master.
    func masterTLSContext() throws -> TLSContext? {
        guard masterTLS else { return nil }
        guard !standalone else { throw ValidationError("--master-tls is for cluster nodes") }
        guard tls.caFile != nil else { throw ValidationError("--master-tls needs --tls-ca-file (the CA that signed the master's certificate)") }
        return try tls.clientContext()
    }

    /// The users from --requirepass-file and --users-file (nil when neither is given).
    func userTable() throws -> UserTable? {
        guard requirepassFile != nil || usersFile != nil else { return nil }
        func read(_ path: String, _ flag: String) throws -> String {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("\(flag) \(path) is not readable") }
            return text
        }
        let pass = try requirepassFile.map { try read($0, "--requirepass-file").trimmingCharacters(in: .whitespacesAndNewlines) }
        let users = try usersFile.map { try read($0, "--users-file") }
        let secret = try clusterSecretFile.map { Array(try read($0, "--cluster-secret-file").trimmingCharacters(in: .whitespacesAndNewlines).utf8) }
        do { return try UserTable(requirepass: pass, usersFile: users, clusterSecret: secret) } catch {
            throw ValidationError("\(requirepassFile != nil && pass?.isEmpty == true ? "--requirepass-file" : "--users-file"): \(error)")
        }
    }

    func run() throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "chainserver")
        var config = ServerConfig(listen: try! SocketAddress(parsing: listen),
                                  httpListen: httpListen.isEmpty ? nil : try! SocketAddress(parsing: httpListen),
                                  dataDir: dataDir)
        config.durability = Durability(rawValue: durability)!
        config.maxValueBytes = maxValueBytes
        config.maxClients = maxClients
        config.maxOutputBytes = maxOutputBytes
        config.maxRequestBytes = maxRequestBytes
        config.cacheBytes = cacheBytes
        config.maxForwarded = maxForwarded
        config.minFreeDiskBytes = max(0, minFreeDiskMB) << 20
        config.failWritesAfter = debugFailWritesAfter
        config.announcePeerFeatures = !debugAnnounceNoPeerFeatures
        config.idleTimeoutMs = Int(idleTimeout * 1000)
        config.requestTimeoutMs = Int(requestTimeout * 1000)
        config.users = try userTable()
        config.tls = try tlsContexts()
        config.httpTLS = httpTLS

        let store: RocksStore
        do {
            // Memory mode keeps no write-ahead log: replication is its durability (see Durability).
            store = try RocksStore(path: dataDir, hashPrefixLength: KeyLayout.dataPrefixLength,
                                   writeAheadLog: config.durability == .fsync)
        } catch {
            fail("chainserver: \(error)", code: 2)
        }
        do {
            config.nodeID = try Self.nodeID(store: store, requested: id, standalone: standalone)
            let converted = try StoreFormat.upgrade(store)
            if converted > 0 { logger.notice("converted \(converted) stored values to value format \(StoreFormat.current)") }
        } catch {
            store.close()
            fail("chainserver: \(error)", code: 2)
        }
        if !standalone {
            var settings = ClusterSettings(master: MasterEndpoints(masterAddress!)!,
                                           peerListen: try! SocketAddress(parsing: peerListen),
                                           secret: Array(try! String(contentsOfFile: clusterSecretFile!, encoding: .utf8)
                                               .trimmingCharacters(in: .whitespacesAndNewlines).utf8))
            settings.advertise = Advertise(host: advertiseHost, client: advertiseClient, peer: advertisePeer, http: advertiseHTTP)
            settings.transferRate = Int(transferRateMB * 1_000_000)
            settings.catchUpBacklogBytes = catchUpBacklogMB << 20
            settings.masterToken = masterTokenFile.flatMap(SecretFile.read)
            settings.peerTLS = try peerTLSContexts()
            settings.masterTLS = try masterTLSContext()
            config.cluster = settings
        }
        let loop: EventLoop
        do { loop = try EventLoop() } catch { fail("chainserver: \(error)", code: 1) }
        let server = Server(config: config, store: store, loop: loop, logger: logger)
        do {
            try server.start()
        } catch {
            store.close()
            fail("chainserver: \(error)", code: 3)
        }
        loop.run()
        server.drainBackgroundWork()
        store.close()
        logger.info("stopped")
    }

    private var masterAddress: String? { master ?? ProcessInfo.processInfo.environment["CHAIN_MASTER"] }

    /// The node's id lives in its data directory: a restart keeps it, and a data directory
    /// cannot be reused under another id by mistake.
    static func nodeID(store: RocksStore, requested: String?, standalone: Bool) throws -> String {
        let key = KeyLayout.metaKey("node/id")
        let stored = try store.get(key).map { String(decoding: $0, as: UTF8.self) }
        if let stored, let requested, stored != requested {
            throw NodeIDMismatch(stored: stored, requested: requested)
        }
        if let stored { return stored }
        let id = requested ?? (standalone ? "standalone" : "n-" + Secrets.randomBytes(4).map { String(format: "%02x", $0) }.joined())
        try store.put(key, Array(id.utf8), sync: true)
        return id
    }

    struct NodeIDMismatch: Error, CustomStringConvertible {
        var stored: String
        var requested: String
        var description: String { "this data directory belongs to node '\(stored)', not '\(requested)'" }
    }

    private func fail(_ message: String, code: Int32) -> Never {
        let line = Array((message + "\n").utf8)
        _ = line.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
        Glibc.exit(code)
    }
}
