import ArgumentParser
import ChainClient
import ChainCore
import Foundation

/// Flags shared by the membership commands that change the layout.
struct PlanOptions: ParsableArguments {
    @Flag(help: "Print the steps the master would take (chains, joins, leaves, reorders, data to copy) and change nothing.")
    var dryRun = false
    @Flag(help: "Follow the steps to completion, with progress and an ETA (exit 2 on timeout).")
    var wait = false
    @Option(help: "Seconds to wait at most with --wait.")
    var timeout: Double = 600
    @Flag(help: "Print the plan (and, with --wait, the outcome) as JSON; progress goes to stderr.")
    var json = false

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        if dryRun && wait { throw ValidationError("--dry-run changes nothing, so there is nothing to --wait for") }
    }
}

/// Runs `add` or `drain`: show the plan, then (unless it is a dry run) follow it if asked.
func changeMembership(_ action: String, _ id: String, _ m: MasterOption, _ o: PlanOptions, done: (MasterAPI.Status) -> Bool) throws {
    let plan: MasterAPI.Plan
    if o.dryRun {
        plan = try m.post("/v1/plan", MasterAPI.PlanRequest(action: action, id: id), as: MasterAPI.Plan.self)
    } else {
        plan = try m.post("/v1/nodes/\(action)", ["id": id], as: MasterAPI.Plan.self)
    }
    if o.json { try printJSON(plan) } else {
        let verb = action == "add" ? "adding" : "draining"
        print(o.dryRun ? "plan to \(action) \(id) (dry run: nothing changed)" : "\(verb) \(id)")
        print(planText(plan), terminator: "")
    }
    guard o.wait else { return }
    try follow(m, total: plan.steps.count, timeout: o.timeout, toStderr: o.json, done: done)
    if o.json { try printJSON(["done": action, "id": id]) } else { print("\(action == "add" ? "added" : "drained") \(id)") }
}

func planText(_ p: MasterAPI.Plan) -> String {
    if p.steps.isEmpty { return "  nothing to do: the layout is already balanced\n" }
    var out = "  \(p.steps.count) steps, \(p.joins) chain copies (~\(bytesText(p.estimated_bytes)) of data)\n"
    out += p.steps.enumerated().map { "  \($0 + 1). \($1)\n" }.joined()
    return out
}

/// Polls the status until `done` holds and no step is left, printing progress when it changes:
/// steps done, joins running with bytes copied, and an ETA from the pace so far.
func follow(_ m: MasterOption, total: Int, timeout: Double, toStderr: Bool, done: (MasterAPI.Status) -> Bool) throws {
    let start = Date()
    let deadline = start.addingTimeInterval(timeout)
    var last = ""
    var total = total
    func say(_ s: String) {
        if toStderr { FileHandle.standardError.write(Data((s + "\n").utf8)) } else { print(s); fflush(nil) }
    }
    while Date() < deadline {
        if let s = try? m.status() {
            let left = s.plan?.count ?? 0
            if left == 0 && done(s) { return }
            total = max(total, left)
            let finished = total - left
            let joins = s.chains.filter { $0.joining != nil }
            var line = "  \(finished)/\(total) steps done"
            if !joins.isEmpty {
                let moved = joins.reduce(0) { $0 + ($1.transferred_bytes ?? 0) }
                line += ", \(joins.count) join(s) running (\(bytesText(moved)) copied)"
            }
            let elapsed = Date().timeIntervalSince(start)
            if finished > 0 && left > 0 { line += String(format: ", ETA %.0fs", elapsed / Double(finished) * Double(left)) }
            if !s.healthy, let p = s.problems.first(where: { !$0.contains("joining") }) { line += "; \(p)" }
            if line != last { say(line); last = line }
        }
        usleep(250_000)
    }
    throw CtlTimeout("not done after \(Int(timeout))s; 'chainctl status' shows where it stands")
}

/// Something did not finish in time: the command prints the reason and exits 2.
struct CtlTimeout: Error {
    var message: String
    init(_ message: String) { self.message = message }

    /// Runs `body`; a timeout becomes its one-line reason on stderr and exit code 2.
    static func exitCode2(_ body: () throws -> Void) throws {
        do { try body() } catch let t as CtlTimeout {
            FileHandle.standardError.write(Data("Error: \(t.message)\n".utf8))
            throw ExitCode(2)
        }
    }
}

struct Add: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add a registered node to the layout: the master moves chain positions onto it until member, head and tail counts are balanced.",
        discussion: """
            Start the node first (chainserver --id ID --master …): it registers as a spare. Each move copies one chain \
            to the new node while writes continue (it joins behind the tail, catches up, becomes the tail), then the \
            old member leaves; head and tail roles are rotated afterwards with a short write pause per chain.
            """)
    @OptionGroup var m: MasterOption
    @Argument(help: "The node's id.") var id: String
    @OptionGroup var o: PlanOptions

    func run() throws {
        try CtlTimeout.exitCode2 {
            try changeMembership("add", id, m, o) { s in
                s.healthy && s.chains.allSatisfy { $0.joining == nil && $0.state != "reordering" }
            }
        }
    }
}

struct Drain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move a node out of every chain without any chain dropping below its replication factor.",
        discussion: "Each chain of the node first gets a replacement that catches up and becomes its tail; then the node leaves it. Refused when too few other nodes are up to hold the chains.")
    @OptionGroup var m: MasterOption
    @Argument(help: "The node's id.") var id: String
    @OptionGroup var o: PlanOptions

    func run() throws {
        try CtlTimeout.exitCode2 {
            try changeMembership("drain", id, m, o) { s in
                s.healthy && !s.chains.contains { $0.members.contains(id) || $0.joining == id }
            }
        }
    }
}

struct Remove: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Forget a node that is in no chain (failed and spliced out, drained, or a spare).")
    @OptionGroup var m: MasterOption
    @Argument(help: "The node's id.") var id: String
    @Flag(help: "Print the outcome as JSON.") var json = false

    func run() throws {
        _ = try m.call("POST", "/v1/nodes/remove", body: Array(try JSONEncoder().encode(["id": id])))
        if json { try printJSON(["removed": id]) } else { print("removed \(id)") }
    }
}
