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

    /// `POST /v1/nodes/register` body: the node's identity and addresses and, when it has
    /// been part of a cluster, the last configuration it installed (what a master that lost its
    /// state recovers from; see `MasterState.recover`).
    public struct Registration: Codable, Sendable {
        public var id: NodeID
        public var client: String
        public var peer: String
        public var http: String
        public var last_config: Configuration?
        /// A new id on every start of the node's process: the same process registering again
        /// (its first reply was slow) is not taken for a restart.
        public var boot: String?

        public init(_ node: NodeInfo, lastConfig: Configuration?, boot: String? = nil) {
            self.boot = boot
            id = node.id
            client = node.client
            peer = node.peer
            http = node.http
            last_config = lastConfig
        }

        public var node: NodeInfo { NodeInfo(id: id, client: client, peer: peer, http: http) }
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
        /// The epoch `chains` was read at (a frozen chain counts as drained only on reports
        /// from its freeze epoch or later).
        public var epoch: Epoch
        public var chains: [ChainProgress]
        /// Approximate bytes of data the node stores (for plans: how much a join copies).
        public var store_bytes: Int?
        /// Peers this node exchanges chain frames with that it has not reached for a while
        /// (three quarters of a lease), and for how long, in ms (same order).
        public var unreachable: [NodeID]?
        public var unreachable_for_ms: [Int]?

        public init(id: NodeID, epoch: Epoch, chains: [ChainProgress], store_bytes: Int? = nil, unreachable: [NodeID]? = nil,
                    unreachableForMs: [Int]? = nil) {
            self.unreachable_for_ms = unreachableForMs
            self.id = id
            self.epoch = epoch
            self.chains = chains
            self.store_bytes = store_bytes
            self.unreachable = unreachable
        }
    }

    /// `POST /v1/plan` body: what would happen if `action` ("add" or "drain") were applied to
    /// node `id`. `POST /v1/nodes/add` and `/v1/nodes/drain` answer with the same plan.
    public struct PlanRequest: Codable, Sendable {
        public var action: String
        public var id: NodeID

        public init(action: String, id: NodeID) {
            self.action = action
            self.id = id
        }
    }

    public struct Plan: Codable, Sendable, Equatable {
        public var action: String
        public var id: NodeID
        public var steps: [MasterState.Step]
        /// Chain copies the plan makes (joins).
        public var joins: Int
        /// Estimated bytes those joins copy (from the members' reported store sizes).
        public var estimated_bytes: Int

        public init(action: String, id: NodeID, steps: [MasterState.Step], joins: Int, estimated_bytes: Int) {
            self.action = action
            self.id = id
            self.steps = steps
            self.joins = joins
            self.estimated_bytes = estimated_bytes
        }
    }

    /// `POST /v1/cluster/stop` and `/v1/cluster/start`: where a clean whole-cluster stop stands.
    public struct Maintenance: Codable, Sendable, Equatable {
        /// "draining", "stopped" or "running".
        public var phase: String
        public var epoch: Epoch
        /// Members that came back with another position than the drained one, and the chains
        /// they left (to be copied again); only on start.
        public var rejoining: [String: [ChainID]]?

        public init(phase: String, epoch: Epoch, rejoining: [String: [ChainID]]? = nil) {
            self.phase = phase
            self.epoch = epoch
            self.rejoining = rejoining
        }
    }

    /// `POST /v1/cluster/start` body.
    public struct StartRequest: Codable, Sendable {
        /// Start without the members that have not come back (they are spliced out).
        public var force: Bool?
        public init(force: Bool?) { self.force = force }
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
            /// The most updates this node trails the head by, over its chains (its last report).
            public var lag_updates: UInt64?

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
            /// Estimated size of the chain's data (what a join copies).
            public var estimated_bytes: Int?

            public init(id: ChainID, members: [NodeID], state: String, slots: String, joining: NodeID? = nil,
                        transferred_bytes: Int? = nil, estimated_bytes: Int? = nil) {
                self.id = id
                self.members = members
                self.state = state
                self.slots = slots
                self.joining = joining
                self.transferred_bytes = transferred_bytes
                self.estimated_bytes = estimated_bytes
            }
        }

        public var epoch: Epoch
        public var healthy: Bool
        public var replication: Int
        public var problems: [String]
        public var nodes: [Node]
        public var chains: [Chain]
        /// Membership steps still to come (joins, leaves, reorders), in order.
        public var plan: [MasterState.Step]?
        /// The masters: which leads, which stand by, and the store's health.
        public var masters: Masters?
        /// The lease a node gets per heartbeat (its remaining lease is this less its heartbeat age).
        public var lease_ms: Int?
        /// The latest reconfigurations, newest first (the leading master's memory since it started).
        public var recent: [Reconfiguration]?
        /// "draining" or "stopped" during a whole-cluster stop (`chainctl stop-cluster`); nil while running.
        public var maintenance: String?

        /// A published configuration and what it changed (`ConfigurationChange`).
        public struct Reconfiguration: Codable, Sendable, Equatable {
            public var epoch: Epoch
            /// Unix time, seconds.
            public var at: Double
            public var change: String

            public init(epoch: Epoch, at: Double, change: String) {
                self.epoch = epoch
                self.at = at
                self.change = change
            }
        }

        public init(epoch: Epoch, healthy: Bool, replication: Int, problems: [String], nodes: [Node], chains: [Chain],
                    plan: [MasterState.Step]? = nil) {
            self.epoch = epoch
            self.healthy = healthy
            self.replication = replication
            self.problems = problems
            self.nodes = nodes
            self.chains = chains
            self.plan = plan
        }
    }

    /// A master that does not lead answers every node and tool request with this (status
    /// `NotLeader.status`): ask `leader` instead (nil: no leader is known yet; retry shortly).
    public struct NotLeader: Codable, Sendable, Equatable {
        public static let status: Int32 = 421
        public var error: String
        public var leader: String?

        public init(leader: String?) {
            self.error = "not_leader"
            self.leader = leader
        }
    }

    /// `GET /v1/masters` (and `status.masters`): the masters and their store.
    public struct Masters: Codable, Sendable, Equatable {
        public struct Member: Codable, Sendable, Equatable {
            public var address: String
            /// "leader" or "standby".
            public var role: String
            public init(address: String, role: String) {
                self.address = address
                self.role = role
            }
        }

        public struct Endpoint: Codable, Sendable, Equatable {
            public var endpoint: String
            public var healthy: Bool
            /// The store member's own report (etcd: its version, whether it leads the etcd cluster), or the error.
            public var detail: String
            public init(endpoint: String, healthy: Bool, detail: String) {
                self.endpoint = endpoint
                self.healthy = healthy
                self.detail = detail
            }
        }

        /// "file" or "etcd".
        public var store: String
        public var leader: String?
        public var members: [Member]
        public var store_endpoints: [Endpoint]?

        public init(store: String, leader: String?, members: [Member], store_endpoints: [Endpoint]?) {
            self.store = store
            self.leader = leader
            self.members = members
            self.store_endpoints = store_endpoints
        }
    }
}
