/// JSON bodies of the master's HTTP API (shared by the master, the nodes and the tools).
public enum MasterAPI {
    /// `POST /v1/nodes/register` and `/v1/nodes/heartbeat` answer with this.
    public struct LeaseReply: Codable, Sendable {
        public var epoch: Epoch
        public var lease_ms: Int
        public var heartbeat_ms: Int
        /// Present when the caller's epoch is older than the master's.
        public var config: Configuration?

        public init(epoch: Epoch, lease_ms: Int, heartbeat_ms: Int, config: Configuration?) {
            self.epoch = epoch
            self.lease_ms = lease_ms
            self.heartbeat_ms = heartbeat_ms
            self.config = config
        }
    }

    /// A chain as one node reports it in heartbeats.
    public struct ChainProgress: Codable, Sendable, Equatable {
        public var id: ChainID
        public var role: String
        public var applied: UInt64
        public var committed: UInt64
        /// Authenticated links to this member's predecessor and successor are up.
        public var linked: Bool?
        /// A joining node has the chain's snapshot and the live stream: it may be promoted.
        public var synced: Bool?
        /// A joining node's state transfer: bytes received so far.
        public var transferred_bytes: Int?

        public init(id: ChainID, role: String, applied: UInt64, committed: UInt64, linked: Bool,
                    synced: Bool? = nil, transferred_bytes: Int? = nil) {
            self.id = id
            self.role = role
            self.applied = applied
            self.committed = committed
            self.linked = linked
            self.synced = synced
            self.transferred_bytes = transferred_bytes
        }
    }

    /// `POST /v1/nodes/heartbeat` body.
    public struct Heartbeat: Codable, Sendable {
        public var id: NodeID
        public var epoch: Epoch
        public var chains: [ChainProgress]

        public init(id: NodeID, epoch: Epoch, chains: [ChainProgress]) {
            self.id = id
            self.epoch = epoch
            self.chains = chains
        }
    }

    /// `GET /v1/status`: the contract `chainctl status --json` prints.
    public struct Status: Codable, Sendable {
        public struct Node: Codable, Sendable {
            public var id: NodeID
            public var client: String
            public var peer: String
            public var http: String
            public var state: String
            public var last_heartbeat_ms: Int?

            public init(id: NodeID, client: String, peer: String, http: String, state: String, last_heartbeat_ms: Int?) {
                self.id = id
                self.client = client
                self.peer = peer
                self.http = http
                self.state = state
                self.last_heartbeat_ms = last_heartbeat_ms
            }
        }

        public struct Chain: Codable, Sendable {
            public var id: ChainID
            public var members: [NodeID]
            public var state: String
            public var slots: String
            public var joining: NodeID?
            public var transferred_bytes: Int?

            public init(id: ChainID, members: [NodeID], state: String, slots: String, joining: NodeID? = nil, transferred_bytes: Int? = nil) {
                self.id = id
                self.members = members
                self.state = state
                self.slots = slots
                self.joining = joining
                self.transferred_bytes = transferred_bytes
            }
        }

        public var epoch: Epoch
        public var healthy: Bool
        public var replication: Int
        public var problems: [String]
        public var nodes: [Node]
        public var chains: [Chain]

        public init(epoch: Epoch, healthy: Bool, replication: Int, problems: [String], nodes: [Node], chains: [Chain]) {
            self.epoch = epoch
            self.healthy = healthy
            self.replication = replication
            self.problems = problems
            self.nodes = nodes
            self.chains = chains
        }
    }
}
