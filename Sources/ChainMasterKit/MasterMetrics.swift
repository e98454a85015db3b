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

    private static func d(_ n: String, _ u: String, _ h: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "chainmaster", metricName: n, unitName: u, helpText: h)
    }

    init() {
        epoch = registry.makeGauge(descriptor: Self.d("epoch", "", "Published configuration epoch"))
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
}
