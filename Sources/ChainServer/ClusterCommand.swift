import ChainClient
import ChainCore
import RESP

/// `CLUSTER SLOTS | SHARDS | INFO | MYID` in the shape Redis Cluster clients expect, so that
/// cluster-aware clients can route: each chain is one shard owning a contiguous slot range, its
/// head is the "master" (writes) and the other members are "replicas". A read sent to a head is
/// forwarded to the chain's tail, so routing by these answers stays linearizable.
extension Server {
    func cluster(_ args: [[UInt8]], _ out: inout RESPWriter) {
        let sub = String(decoding: args[1], as: UTF8.self).uppercased()
        guard let node = chainNode else {
            out.error("ERR This instance has cluster support disabled")
            return
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
                out.arrayHeader(2 + ch.members.count)
                out.integer(r.lowerBound)
                out.integer(r.upperBound - 1)
                for m in ch.members { endpoint(config, m, &out) }
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
                out.arrayHeader(ch.members.count)
                for (i, m) in ch.members.enumerated() {
                    let (host, port) = Self.split(config.node(m)?.client ?? "")
                    out.mapHeader(6)
                    out.bulk("id"); out.bulk(m)
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
            out.bulk(node.me)
        default:
            out.error("ERR unknown CLUSTER subcommand '\(sub)': chainstore answers SLOTS, SHARDS, INFO and MYID")
        }
    }

    private func endpoint(_ config: Configuration, _ id: NodeID, _ out: inout RESPWriter) {
        let (host, port) = Self.split(config.node(id)?.client ?? "")
        out.arrayHeader(3)
        out.bulk(host)
        out.integer(port)
        out.bulk(id)
    }

    /// "HOST:PORT" → (HOST, PORT); a malformed address gives port 0.
    static func split(_ address: String) -> (String, Int) {
        HostPort(address).map { ($0.host, Int($0.port)) } ?? (address, 0)
    }
}
