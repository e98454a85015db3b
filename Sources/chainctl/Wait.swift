import ArgumentParser
import ChainCore
import Foundation

struct Wait: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Wait for a condition; exit 0 once it holds, 2 if the timeout passed first.",
        discussion: "--healthy: every chain at full replication, every member up and linked. --node-in-sync ID: the node is up, joins no chain, every chain it is in is ok, and no planned step involves it.")
    @OptionGroup var m: MasterOption
    @Flag(help: "Wait until the cluster is healthy.")
    var healthy = false
    @Option(name: .customLong("node-in-sync"), help: "Wait until this node has caught up in every chain it is in.")
    var node: String?
    @Option(help: "Seconds to wait at most.")
    var timeout: Double = 30
    @Flag(help: "Print the outcome as JSON.") var json = false

    func validate() throws {
        guard healthy || node != nil else { throw ValidationError("say what to wait for: --healthy or --node-in-sync ID") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    /// Nil when the condition holds, else what is still missing.
    func missing(_ s: MasterAPI.Status) -> String? {
        if healthy && !s.healthy { return s.problems.first ?? "not healthy" }
        if let node {
            guard let n = s.nodes.first(where: { $0.id == node }) else { return "no node '\(node)' is registered" }
            guard ["up", "spare", "draining", "drained"].contains(n.state) else { return "node \(node) is \(n.state)" }
            if let c = s.chains.first(where: { $0.joining == node }) { return "node \(node) is still joining chain \(c.id)" }
            if let c = s.chains.first(where: { $0.members.contains(node) && $0.state != "ok" }) { return "chain \(c.id) of node \(node) is \(c.state)" }
            if let step = s.plan?.first(where: { $0.node == node || ($0.members ?? []).contains(node) }) { return "still to come: \(step)" }
        }
        return nil
    }

    func run() throws {
        let s = try pollStatus(m, timeout: timeout) { s in
            let why = missing(s)
            // Waiting cannot make an unknown node appear.
            if let why, why.hasPrefix("no node") { throw CtlError(why) }
            return why
        }
        if json { try printJSON(WaitResult(ok: true, epoch: s.epoch)) }
        else { print(healthy ? "healthy at epoch \(s.epoch)" : "\(node!) in sync at epoch \(s.epoch)") }
    }
}

/// Polls the master's status every 200 ms until `missing` says nil (the condition holds) and
/// returns that status; after `timeout` seconds prints what was still missing and exits 2.
func pollStatus(_ m: MasterOption, timeout: Double, _ missing: (MasterAPI.Status) throws -> String?) throws -> MasterAPI.Status {
    let deadline = Date().addingTimeInterval(timeout)
    var last = "no answer from the master"
    repeat {
        do {
            let s = try m.status()
            guard let why = try missing(s) else { return s }
            last = why
        } catch let e as CtlError where !e.description.hasPrefix("no node") {
            last = "\(e)"
        }
        usleep(200_000)
    } while Date() < deadline
    FileHandle.standardError.write(Data("not done after \(timeout)s: \(last)\n".utf8))
    throw ExitCode(2)
}

/// `chainctl wait --json`: `{"epoch": N, "ok": true}` (a boolean and a number, not strings).
struct WaitResult: Encodable {
    var ok: Bool
    var epoch: UInt64
}
