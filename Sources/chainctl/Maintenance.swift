import ArgumentParser
import ChainCore
import Foundation

/// Options of `stop-cluster` and `start-cluster`.
struct MaintenanceOptions: ParsableArguments {
    @Flag(help: "Wait until it is done (exit 2 on timeout).") var wait = false
    @Option(help: "Seconds to wait at most with --wait.") var timeout: Double = 120
    @Flag(help: "Print the outcome as JSON.") var json = false

    func validate() throws { guard timeout > 0 else { throw ValidationError("--timeout must be positive") } }

    func wait(_ m: MasterOption, _ done: (MasterAPI.Status) -> String?) throws -> MasterAPI.Status {
        try pollStatus(m, timeout: timeout, done)
    }
}

struct StopCluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop-cluster",
        abstract: "Stop the whole cluster cleanly for maintenance: writes stop, every chain drains, and the processes may then be stopped without the master splicing anyone.",
        discussion: "Reads keep working while stopped; writes get TRYAGAIN. Once it says stopped, stop every chainserver and chainmaster (SIGTERM). After starting them again, chainctl start-cluster resumes the cluster: members that kept their data keep their chains, so nothing is copied.")
    @OptionGroup var m: MasterOption
    @OptionGroup var o: MaintenanceOptions

    func run() throws {
        let r = try m.post("/v1/cluster/stop", [String: String](), as: MasterAPI.Maintenance.self)
        if !o.wait {
            if o.json { try printJSON(r) } else { print("stopping the cluster at epoch \(r.epoch): writes refused, chains draining") }
            return
        }
        let s = try o.wait(m) { $0.maintenance == "stopped" ? nil : "the chains are still draining" }
        if o.json { try printJSON(MasterAPI.Maintenance(phase: "stopped", epoch: s.epoch)) }
        else { print("cluster stopped at epoch \(s.epoch): every chain drained; its processes may be stopped now") }
    }
}

struct StartCluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start-cluster",
        abstract: "Resume a cluster stopped with stop-cluster, once its processes run again.",
        discussion: "Every member must be back (heartbeating) and is checked to hold exactly what it held when the cluster drained; one that does not leaves the chain and is repaired like a restarted node. --force starts without members that have not come back (they are spliced out).")
    @OptionGroup var m: MasterOption
    @Flag(help: "Start without the members that have not come back.") var force = false
    @OptionGroup var o: MaintenanceOptions

    func run() throws {
        // Members that were just started need a heartbeat or two before they count as back, and
        // a master that was just started may not be listening yet: with --wait both are waited for.
        let deadline = Date().addingTimeInterval(o.wait ? o.timeout : 0)
        var r: MasterAPI.Maintenance
        while true {
            do {
                r = try m.post("/v1/cluster/start", MasterAPI.StartRequest(force: force), as: MasterAPI.Maintenance.self)
                break
            } catch let e as CtlError where (e.kind == .masterUnreachable || e.description.contains("have not come back")) && Date() < deadline {
                usleep(300_000)
            }
        }
        if let lost = r.rejoining, !o.json {
            for (node, chains) in lost.sorted(by: { $0.key < $1.key }) {
                print("\(node) came back without the drained data of chains \(chains.map(String.init).joined(separator: ",")): it rejoins them")
            }
        }
        guard o.wait else {
            if o.json { try printJSON(r) } else { print("cluster started at epoch \(r.epoch)") }
            return
        }
        let s = try o.wait(m) { $0.healthy ? nil : $0.problems.first ?? "not healthy" }
        if o.json { try printJSON(MasterAPI.Maintenance(phase: "running", epoch: s.epoch, rejoining: r.rejoining)) }
        else { print("cluster started and healthy at epoch \(s.epoch)") }
    }
}
