import ChainClient
import ChainCore
import EventLoop
import ChainSecurity

/// When a write may be acknowledged.
public enum Durability: String, Sendable, CaseIterable {
    /// After the write-ahead log holding it was fsynced (group commit: one sync per loop turn's
    /// worth of writes).
    case fsync
    /// After it is in RocksDB's memtable, with no write-ahead log (as Redis without persistence,
    /// replication is the durability): a node that crashes comes back with what its store had
    /// flushed and catches the rest up from its chains; a crash of every replica of a chain at
    /// once loses that chain's writes since its last flush. A graceful stop flushes everything.
    case memory
}

/// Everything `chainserver` needs to start, already validated by the executable.
public struct ServerConfig: Sendable {
    public var listen: SocketAddress
    public var httpListen: SocketAddress?
    /// The HTTP endpoint speaks HTTPS with the client port's certificate (`--http-tls`).
    public var httpTLS = false
    public var dataDir: String
    public var durability: Durability = .fsync
    public var maxValueBytes = 16 << 20
    public var maxClients = 10_000
    /// Replies queued for a client that does not read them; past this it is disconnected.
    public var maxOutputBytes = 64 << 20
    /// Bytes of partly received requests held per client; past this it is disconnected.
    public var maxRequestBytes = 256 << 20
    public var maxArrayLength = 1 << 20
    /// Requests this node may have forwarded to other nodes and not yet had answered; past it,
    /// more are refused with TRYAGAIN (a node that stalls cannot make this one hold unbounded
    /// replies' worth of state).
    public var maxForwarded = 10_000
    /// Disk space writes must leave free on the data directory's file system (RocksDB must never
    /// run out of it; it needs room to flush its memtables too). 0 disables the check.
    public var minFreeDiskBytes = 64 << 20
    /// Fault injection for tests (`--debug-fail-writes-after`): store writes after this many fail.
    public var failWritesAfter: Int?
    /// Tests (`--debug-announce-no-peer-features`): announce no peer-protocol features, as a
    /// node of an earlier release would, so that peers send it only the classic frames.
    public var announcePeerFeatures = true
    /// Close a connection that sent nothing for this long and waits for nothing (0: never, as
    /// Redis's default).
    public var idleTimeoutMs = 0
    /// Close a connection whose partly received request has not completed for this long.
    public var requestTimeoutMs = 30_000
    /// Memory for the value cache in front of RocksDB (0 disables it).
    public var cacheBytes = 256 << 20
    public var nodeID = "standalone"
    /// Cluster mode: the master's address, the peer listener and the shared secret. Nil means
    /// standalone.
    public var cluster: ClusterSettings?
    /// Client authentication (`--requirepass-file`, `--users-file`); nil: every connection may
    /// do everything, as in a Redis without a password.
    public var users: UserTable?
    /// TLS on the client port (`--tls-cert-file` …): the server context for accepted clients and
    /// the client context this node uses when it forwards a request to another node.
    public var tls: (server: TLSContext, forwarding: TLSContext)?

    public init(listen: SocketAddress, httpListen: SocketAddress?, dataDir: String) {
        self.listen = listen
        self.httpListen = httpListen
        self.dataDir = dataDir
    }
}

/// What a node needs to join a cluster.
public struct ClusterSettings: Sendable {
    /// The masters (one, or the several of an etcd-backed cluster; the leader is followed).
    public var master: MasterEndpoints
    public var peerListen: SocketAddress
    public var secret: [UInt8]
    /// Addresses announced to the master, for nodes behind NAT or in containers (`--advertise-*`).
    public var advertise = Advertise()
    /// Bytes per second all state transfers sent from this node may use together; 0 = no cap.
    public var transferRate = 0
    /// Bytes of recent updates kept for all chains together (split evenly among them), so that a
    /// node that comes back can be sent only what it missed (`--catchup-backlog-mb`); 0: always
    /// send snapshots.
    public var catchUpBacklogBytes = 64 << 20
    /// The master's API token (`--master-token-file`), sent with registration, heartbeats and
    /// configuration watches.
    public var masterToken: String?
    /// HTTPS to the master (`--master-tls`): a client context checking the master's certificate
    /// (and presenting the node's own, for a master that requires client certificates).
    public var masterTLS: TLSContext?
    /// TLS on the peer links (`--peer-tls`): mutual, every node presenting its certificate and
    /// checking the other's against the CA.
    public var peerTLS: (server: TLSContext, client: TLSContext)?

    public init(master: MasterEndpoints, peerListen: SocketAddress, secret: [UInt8]) {
        self.master = master
        self.peerListen = peerListen
        self.secret = secret
    }
}

/// What a node tells the master (and so its peers and clients) to reach it at. Each address
/// defaults to `host` with the bound port, and without `host` to the bound address itself.
public struct Advertise: Sendable, Equatable {
    /// `--advertise-host`: a name or address that reaches this node, with the listen ports.
    public var host: String?
    /// `--advertise-client`, `--advertise-peer`, `--advertise-http`: full `HOST:PORT`s (a port
    /// mapped by NAT or a container runtime).
    public var client: String?
    public var peer: String?
    public var http: String?

    public init(host: String? = nil, client: String? = nil, peer: String? = nil, http: String? = nil) {
        (self.host, self.client, self.peer, self.http) = (host, client, peer, http)
    }

    /// The address to announce for a listener bound at `bound`.
    func address(_ explicit: String?, bound: SocketAddress) -> String {
        explicit ?? host.map { HostPortSyntax.format(host: $0, port: bound.port) } ?? "\(bound)"
    }
}
