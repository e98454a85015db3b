import ChainCore
import ChainSecurity
import EventLoop

public struct MasterConfig: Sendable {
    public var listen: SocketAddress
    public var dataDir: String
    public var replication = 3
    public var chains: Int?
    public var initialNodes = 0
    public var leaseMs = 2000
    public var heartbeatMs = 500
    /// Chains one node may be joining at once (repairs run in parallel up to this).
    public var maxJoinsPerNode = 4
    /// A node registering with a formed cluster is added to the layout at once (as `chainctl add`).
    public var autoRebalance = false
    /// Recover a lost state from the nodes: adopt the newest table once this many nodes that
    /// hold one have registered (0 = refuse such nodes; see `MasterState.recover`).
    public var recoverNodes = 0
    /// The API token (`--api-token-file`): every POST (registration, heartbeats, membership
    /// changes) must carry `Authorization: Bearer TOKEN`; with `protectReads`, every GET but
    /// `/healthz` too. Nil: the API is open (loopback development).
    public var apiToken: String?
    public var protectReads = false
    /// HTTPS for the API (`--tls-cert-file`/`--tls-key-file`, mutual with `--tls-client-auth`).
    public var tls: TLSContext?

    /// The API address other masters, nodes and tools reach this master at (default: `listen`).
    public var advertise: String

    public init(listen: SocketAddress, dataDir: String) {
        self.listen = listen
        self.dataDir = dataDir
        self.advertise = "\(listen)"
    }

    var policySettings: MasterPolicy.Settings {
        MasterPolicy.Settings(leaseMs: leaseMs, heartbeatMs: heartbeatMs, maxJoinsPerNode: maxJoinsPerNode,
                              autoRebalance: autoRebalance, recoverNodes: recoverNodes)
    }
}
