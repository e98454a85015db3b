import ChainClient
import ChainCore
import ChainSecurity
import RESP
import Storage

/// `CLUSTER SLOTS | SHARDS | NODES | INFO | MYID | KEYSLOT | COUNTKEYSINSLOT | GETKEYSINSLOT` in
/// the shape Redis Cluster clients and tools expect, so that cluster-aware clients can route:
/// each chain is one shard owning a contiguous slot range, and its head is that shard's master.
/// No replicas are listed: a node heads some chains and is a middle or tail in others, which
/// Redis's one-role-per-node model cannot say — clients that derive a node's role from these
/// answers (redis-py) would call all but one node a replica and skip them when they send a
/// command to every master (SCAN, KEYS, DBSIZE). A read sent to a head is forwarded to the
/// chain's tail, so routing by these answers stays linearizable. Node ids are 40 hex digits
/// derived from the node's name.
extension Server {
    func cluster(_ args: [[UInt8]], _ out: inout RESPWriter) {
        let sub = String(decoding: args[1], as: UTF8.self).uppercased()
        guard let node = chainNode else {
            out.error("ERR This instance has cluster support disabled")
            return
        }
        if sub == "KEYSLOT" {
            guard args.count == 3 else { return out.error("ERR wrong number of arguments for 'cluster|keyslot' command") }
            return out.integer(HashSlot.of(args[2]))
        }
        guard let config = node.config else {
            out.error("CLUSTERDOWN chainstore: this node has no configuration from the master yet")
            return
        }
        switch sub {
        case "SLOTS":
            out.arrayHeader(config.chains.count)
            for ch in config.chains {
                let r = config.slots(of: ch.id)
                out.arrayHeader(ch.head == nil ? 2 : 3)
                out.integer(r.lowerBound)
                out.integer(r.upperBound - 1)
                if let head = ch.head { endpoint(config, head, &out) }
            }
        case "SHARDS":
            out.arrayHeader(config.chains.count)
            for ch in config.chains {
                let r = config.slots(of: ch.id)
                out.mapHeader(2)
                out.bulk("slots")
                out.arrayHeader(2)
                out.integer(r.lowerBound)
                out.integer(r.upperBound - 1)
                out.bulk("nodes")
                out.arrayHeader(ch.members.prefix(1).count)
                for (i, m) in ch.members.prefix(1).enumerated() {
                    let (host, port) = Self.split(config.node(m)?.client ?? "")
                    out.mapHeader(6)
                    out.bulk("id"); out.bulk(Self.redisNodeID(m))
                    out.bulk("port"); out.integer(port)
                    out.bulk("ip"); out.bulk(host)
                    out.bulk("endpoint"); out.bulk(host)
                    out.bulk("role"); out.bulk(i == 0 ? "master" : "replica")
                    out.bulk("health"); out.bulk("online")
                }
            }
        case "INFO":
            let ok = node.leaseValid && config.chains.allSatisfy { $0.members.count >= config.replication }
            out.verbatim("""
                cluster_enabled:1\r
                cluster_state:\(ok ? "ok" : "fail")\r
                cluster_slots_assigned:\(HashSlot.count)\r
                cluster_known_nodes:\(config.nodes.count)\r
                cluster_size:\(config.chains.count)\r
                cluster_current_epoch:\(config.epoch)\r

                """)
        case "MYID":
            out.bulk(Self.redisNodeID(node.me))
        case "NODES":
            out.verbatim(nodesTable(config, me: node.me))
        default:
            out.error("ERR unknown CLUSTER subcommand '\(sub)': chainstore answers SLOTS, SHARDS, NODES, INFO, MYID, KEYSLOT, COUNTKEYSINSLOT and GETKEYSINSLOT")
        }
    }

    /// A node's id as Redis Cluster tools expect one: 40 hex digits, the same on every node and
    /// across restarts (derived from the node's name).
    static func redisNodeID(_ id: NodeID) -> String {
        Secrets.hmacSHA256(key: Array("chainstore node id".utf8), message: Array(id.utf8)).prefix(20)
            .map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    /// `CLUSTER NODES`: one line per node, `id ip:port@peerport flags master ping pong epoch
    /// link-state slots…`, each node a master of the slot ranges of the chains it heads.
    private func nodesTable(_ config: Configuration, me: NodeID) -> String {
        var text = ""
        for n in config.nodes {
            let (host, port) = Self.split(n.client)
            let busPort = Self.split(n.peer).1
            let headed = config.chains.filter { $0.head == n.id }.map { config.slots(of: $0.id) }
            let ranges = headed.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound - 1)" }
            let fields = [Self.redisNodeID(n.id), "\(host):\(port)@\(busPort)", n.id == me ? "myself,master" : "master", "-", "0", "0",
                          String(config.epoch), "connected"] + ranges
            text += fields.joined(separator: " ") + "\n"
        }
        return text
    }

    /// `CLUSTER COUNTKEYSINSLOT slot` / `GETKEYSINSLOT slot count`, from this node's copy of the
    /// slot's chain (none when it holds no copy). A slot's keys span its hash buckets, so the
    /// walk needs the store in total order, which sorts the memtable: it runs off the loop.
    func keysInSlot(_ args: [[UInt8]], session: ClientSession, into out: inout RESPWriter) -> CommandOutcome {
        let count = String(decoding: args[1], as: UTF8.self).uppercased() == "COUNTKEYSINSLOT"
        guard chainNode != nil else {
            out.error("ERR This instance has cluster support disabled")
            return .answered
        }
        guard args.count == (count ? 3 : 4) else {
            out.error("ERR wrong number of arguments for 'cluster|\(count ? "countkeysinslot" : "getkeysinslot")' command")
            return .answered
        }
        guard let slot = Int(String(decoding: args[2], as: UTF8.self)), (0..<HashSlot.count).contains(slot) else {
            out.error("ERR Invalid slot")
            return .answered
        }
        var limit = Int.max
        if !count {
            guard let n = Int(String(decoding: args[3], as: UTF8.self)), n >= 0 else {
                out.error("ERR Invalid number of keys")
                return .answered
            }
            limit = n
        }
        let store = data.store
        let now = wallMillis()
        return answerOffLoop(session) { [limit] out in
            var keys: [[UInt8]] = []
            var n = 0
            do {
                if limit > 0 {
                    try store.scan(prefix: KeyLayout.slotPrefix(slot), from: nil, at: nil) { k, v in
                        guard StoredValue.isLive(raw: v, nowMs: now) else { return true }
                        n += 1
                        if !count, let user = KeyLayout.userKey(fromDataKey: k) { keys.append(user) }
                        return n < limit
                    }
                }
            } catch {
                return out.error("ERR store read failed: \(error)")
            }
            if count { return out.integer(n) }
            out.arrayHeader(keys.count)
            for k in keys { out.bulk(k) }
        }
    }

    private func endpoint(_ config: Configuration, _ id: NodeID, _ out: inout RESPWriter) {
        let (host, port) = Self.split(config.node(id)?.client ?? "")
        out.arrayHeader(3)
        out.bulk(host)
        out.integer(port)
        out.bulk(Self.redisNodeID(id))
    }

    /// "HOST:PORT" → (HOST, PORT); a malformed address gives port 0.
    static func split(_ address: String) -> (String, Int) {
        HostPort(address).map { ($0.host, Int($0.port)) } ?? (address, 0)
    }
}
