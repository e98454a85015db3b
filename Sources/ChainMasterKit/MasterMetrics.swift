import ChainCore
import ChainVersion
import Prometheus

final class MasterMetrics {
    let registry = PrometheusCollectorRegistry()
    let epoch: Gauge
    let nodes: Gauge
    let requests: Counter
    let unauthorized: Counter
    let badRequests: Counter
    let registrations: Counter
    let heartbeats: Counter
    let stateSaveFailures: Counter
    let failuresDetected: Counter
    let linkCutsResolved: Counter
    let joinsStarted: Counter
    let promotions: Counter
    let stallsDetected: Counter
    let leader: Gauge
    let electionsWon: Counter
    let fencedWrites: Counter
    let redirected: Counter

    /// The cluster as the leader sees it (`updateCluster`): labelled series, dropped when their
    /// chain, node or member goes away so that no stale value lingers.
    let healthy: Gauge
    let nodesUp: Gauge
    private var labelled: [String: Gauge] = [:]

    private static func d(_ n: String, _ u: String, _ h: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "chainmaster", metricName: n, unitName: u, helpText: h)
    }

    init() {
        epoch = registry.makeGauge(descriptor: Self.d("epoch", "", "Published configuration epoch"))
        healthy = registry.makeGauge(descriptor: Self.d("cluster_healthy", "", "1 while every chain has its replication factor, every member up and linked (leader only)"))
        nodesUp = registry.makeGauge(descriptor: Self.d("nodes_up", "", "Nodes heartbeating within the lease (leader only)"))
        nodes = registry.makeGauge(descriptor: Self.d("nodes", "", "Registered nodes"))
        requests = registry.makeCounter(descriptor: Self.d("http_requests", "total", "HTTP requests"))
        unauthorized = registry.makeCounter(descriptor: Self.d("http_unauthorized", "total", "HTTP requests refused for a missing or wrong API token"))
        badRequests = registry.makeCounter(descriptor: Self.d("bad_requests", "total", "Requests refused as malformed"))
        registrations = registry.makeCounter(descriptor: Self.d("registrations", "total", "Node registrations"))
        heartbeats = registry.makeCounter(descriptor: Self.d("heartbeats", "total", "Node heartbeats"))
        stateSaveFailures = registry.makeCounter(descriptor: Self.d("state_save_failures", "total", "Failed writes of the state file"))
        joinsStarted = registry.makeCounter(descriptor: Self.d("repairs", "total", "Reconfigurations that added joining nodes to chains"))
        promotions = registry.makeCounter(descriptor: Self.d("promotions", "total", "Joining nodes promoted to tail"))
        failuresDetected = registry.makeCounter(descriptor: Self.d("node_failures", "total", "Nodes declared failed (silent for the lease time)"))
        linkCutsResolved = registry.makeCounter(descriptor: Self.d("link_cuts_resolved", "total", "Nodes spliced out because a chain neighbour could not reach them"))
        stallsDetected = registry.makeCounter(descriptor: Self.d("stalls", "total", "Times this master found itself stalled past two heartbeat intervals (and waited a lease before judging nodes)"))
        leader = registry.makeGauge(descriptor: Self.d("leader", "", "1 while this master leads, 0 while it stands by"))
        electionsWon = registry.makeCounter(descriptor: Self.d("elections_won", "total", "Times this master became the leader"))
        fencedWrites = registry.makeCounter(descriptor: Self.d("fenced_writes", "total", "State writes the store refused because this master no longer led"))
        redirected = registry.makeCounter(descriptor: Self.d("not_leader_replies", "total", "Requests answered with the leader's address (this master did not lead)"))
        registry.makeGauge(descriptor: Self.d("build_info", "", "Always 1; the labels name the version and the commit"),
                           labels: [("version", BuildInfo.version), ("commit", BuildInfo.commit)]).set(to: 1)
    }

    func count(_ c: MasterPolicy.Counter, _ n: Int) {
        guard n > 0 else { return }
        let counter: Counter
        switch c {
        case .registrations: counter = registrations
        case .heartbeats: counter = heartbeats
        case .failuresDetected: counter = failuresDetected
        case .linkCutsResolved: counter = linkCutsResolved
        case .joinsStarted: counter = joinsStarted
        case .promotions: counter = promotions
        case .stallsDetected: counter = stallsDetected
        }
        counter.increment(by: Int64(n))
    }

    func render() -> [UInt8] {
        var out: [UInt8] = []
        registry.emit(into: &out)
        return out
    }

    /// Refreshes the per-chain and per-node series from the leader's status (nil on a standby:
    /// it reports none, the leader does).
    func updateCluster(_ status: MasterAPI.Status?, lag: [(chain: ChainID, node: NodeID, updates: UInt64)]) {
        var values: [String: (MetricNameDescriptor, [(String, String)], Double)] = [:]
        if let s = status {
            for c in s.chains {
                let l = [("chain", "\(c.id)")]
                values["ok\(c.id)"] = (Self.d("chain_ok", "", "1 while the chain is ok: full replication, members up and linked"), l, c.state == "ok" ? 1 : 0)
                values["members\(c.id)"] = (Self.d("chain_members", "", "Members of the chain (its replication)"), l, Double(c.members.count))
            }
            for n in s.nodes {
                values["up\(n.id)"] = (Self.d("node_up", "", "1 while the node heartbeats within the lease (spares included)"), [("node", n.id)],
                                        ["up", "spare", "draining", "drained"].contains(n.state) ? 1 : 0)
            }
            for m in lag {
                values["lag\(m.chain)/\(m.node)"] = (Self.d("chain_member_lag_updates", "", "Updates a member's last report trails the chain's most advanced member by"),
                                                       [("chain", "\(m.chain)"), ("node", m.node)], Double(m.updates))
            }
        }
        healthy.set(to: status?.healthy == true ? 1 : 0)
        nodesUp.set(to: Double(values.values.filter { $0.0.metricName == "node_up" && $0.2 == 1 }.count))
        for (key, g) in labelled where values[key] == nil {
            registry.unregisterGauge(g)
            labelled.removeValue(forKey: key)
        }
        for (key, v) in values {
            let g = labelled[key] ?? registry.makeGauge(descriptor: v.0, labels: v.1)
            labelled[key] = g
            g.set(to: v.2)
        }
    }
}
