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
    }

    func render() -> [UInt8] {
        var out: [UInt8] = []
        registry.emit(into: &out)
        return out
    }
}
